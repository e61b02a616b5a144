"""The windowed, batched analysis returns exactly the findings of AnalyzerEngine.analyze per document."""

import json
import random
from pathlib import Path

import pytest
import spacy

from tokenmill.transforms.document import Document
from tokenmill.transforms.extract import ExtractConfig, decode_html, extract_main_text
from tokenmill.transforms.pii_config import PIIConfig
from tokenmill.transforms.pii_engine import PiiAnalyzer, build_analyzer, configured_entities, findings
from tokenmill.transforms.readers import InputConfig, iter_records, record_check

from testdata import AUT, TEST_DATA, warc

PRESIDIO = TEST_DATA / "presidio-research__generated_large_250.json"   # 250 of the 2,109 labelled sentences


@pytest.fixture(scope="module")
def analyzer():
    cfg = PIIConfig()
    return PiiAnalyzer(build_analyzer(cfg), configured_entities(cfg), batch_size=16)


def web_pages(path: Path, limit: int) -> list[str]:
    texts = []
    with open(path, "rb") as f:
        for rec in iter_records(f, str(path), InputConfig()):
            if isinstance(rec, Document) and record_check(rec, InputConfig()) is None:
                html, _ = decode_html(rec.html, rec.charset)
                text = extract_main_text(html, rec.url, ExtractConfig(backend="resiliparse"))
                if text.strip():
                    texts.append(text)
            if len(texts) >= limit:
                break
    return texts


def adversarial_docs() -> list[str]:
    """Texts built to break windowing: context far above, blank and indented lines, CRLF, no newline."""
    filler = "the of and to in is it that was for on are as with".split()
    entities = ["785 8949", "(415) 555-0172", "141.52.3.19", "192.168.0.4", "zelda@protonmail.com",
                "4539 1488 0343 6467", "536-22-1947", "GB29 NWBK 6016 1331 9268 19", "2a00:1450:4001:82a::200e",
                "ssn 536 22 1947", "tel:785 8949", "phone\n\n\n785 8949", "Phone:\r\n785 8949", "785 8949 office",
                "(12) - (34) 56 78", "+44 (0) 20 7946 0958", "x@y.co 192.0.2.1 ::1 ::", "1 234 567 890 phone"]
    rng = random.Random(7)
    docs = []
    for i in range(60):
        lines = []
        for _ in range(rng.randint(1, 40)):
            kind = rng.random()
            if kind < 0.15:
                lines.append(rng.choice(entities))
            elif kind < 0.25:
                lines.append(rng.choice(["", "   ", "\t", "\u00a0"]))
            elif kind < 0.35:
                lines.append(rng.choice(["phone", "Contact us", "fax:", "reach"]) + " " + " ".join(rng.choices(filler, k=rng.randint(0, 9))))
            else:
                lines.append(" ".join(rng.choices(filler + ["report", "2024-05-12", "12:30:45", "v1.2.3"], k=rng.randint(1, 15))))
        sep = "\r\n" if i % 5 == 0 else "\n"
        docs.append(sep.join(lines))
    docs.append("phone " + " ".join(["the"] * 50) + " 785 8949")         # one long line
    docs.append("785 8949")                                               # nothing around it
    docs.append("")
    return docs


def assert_same(analyzer, texts):
    fast = analyzer.analyze_many(texts)
    for text, got in zip(texts, fast):
        assert findings(got) == findings(analyzer.analyze_one(text)), text[:200]


def test_windows_equal_whole_documents_on_presidio_research(analyzer):
    sample = [x["full_text"] for x in json.loads(PRESIDIO.read_text(encoding="utf-8"))]
    assert len(sample) == 250
    assert_same(analyzer, sample)
    assert sum(len(r) for r in analyzer.analyze_many(sample)) > 50          # not a vacuous comparison


def test_windows_equal_whole_documents_on_real_web_pages(analyzer):
    pages = web_pages(warc(AUT), 40)
    assert len(pages) >= 30
    assert_same(analyzer, pages)
    analysed = sum(b - a for text in pages for a, b in analyzer.windows(text))
    assert analysed < 0.2 * sum(map(len, pages))        # the point: most text is never analysed


def test_windows_equal_whole_documents_on_adversarial_texts(analyzer):
    docs = adversarial_docs()
    assert_same(analyzer, docs)
    assert any(analyzer.analyze_many(docs))


def test_text_without_triggers_has_no_windows(analyzer):
    assert analyzer.windows("Plain prose with a year, 2024, and a price of 12.50 euros.\nNothing else.") == []
    assert analyzer.analyze_many(["", "no digits here"]) == [[], []]


def test_windows_are_whole_lines_with_context_lines_around(analyzer):
    text = "\n".join(f"line {i} words here" for i in range(30)).replace("line 15 words here", "Phone: 785 8949")
    (start, end), = analyzer.windows(text)
    assert text[start - 1] == "\n" and text[end] == "\n"
    assert text[start:end].count("\n") == 7 + 2          # 7 lines before, the line, 2 after


def test_ner_path_with_an_entity_ruler_pipeline(tmp_path):
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns([{"label": "PERSON", "pattern": [{"LOWER": "ada"}, {"LOWER": "lovelace"}]},
                        {"label": "GPE", "pattern": "London"}])
    nlp.to_disk(tmp_path / "ruler")
    cfg = PIIConfig(ner_model=str(tmp_path / "ruler"), ner_entities=("PERSON", "LOCATION"))
    ner = PiiAnalyzer(build_analyzer(cfg), configured_entities(cfg))
    assert not ner.windowed                      # NER needs whole documents: no pre-check
    texts = ["Ada Lovelace lived in London.\nPhone: (020) 7946 0958", "Nobody here.", "Write to ada@example.org"]
    got = [findings(r) for r in ner.analyze_many(texts)]
    assert got == [findings(ner.analyze_one(t)) for t in texts]
    assert [(t, texts[0][s:e]) for t, s, e, _ in got[0]] == [
        ("LOCATION", "London"), ("PERSON", "Ada Lovelace"), ("PHONE_NUMBER", "(020) 7946 0958")]


def test_missing_ner_model_is_a_config_error():
    with pytest.raises(ValueError, match="neither an installed spaCy package"):
        PIIConfig(ner_model="en_core_web_nonexistent")


def test_no_pattern_matches_a_newline(analyzer):
    """The windows rely on it; random strings of the characters these patterns are made of."""
    import regex

    from tokenmill.transforms.pii_phone import CANDIDATE
    recognizers = analyzer.analyzer.registry.get_recognizers("en", analyzer.entities)
    patterns = [regex.compile(p.regex, r.global_regex_flags) for r in recognizers for p in getattr(r, "patterns", [])]
    alphabet = "0123456789abcdefGBx:.-/ ()+@\n\r\t\u00a0"
    rng = random.Random(11)
    for _ in range(1500):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(5, 60)))
        for pattern in patterns + [CANDIDATE]:
            assert all("\n" not in m.group(0) for m in pattern.finditer(text)), (pattern.pattern, text)
