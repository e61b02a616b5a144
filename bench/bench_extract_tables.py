"""Which pages change outcome when trafilatura's table rows become plain lines (extract.plain_tables).

trafilatura 2.x writes tables as Markdown rows (`| cell | cell |`); with `plain_tables` (default)
the cells are written as plain lines instead (transforms/extract.py, `unwrap_tables`). This runs
every HTML response of the given WARCs through extraction (trafilatura, the default config) both
ways, in-process, then through the language and quality stages, and
counts the pages whose text changed and those whose outcome (kept, or the drop reason) changed,
with examples to check by eye. Inputs: the real WARCs in warc/ under --data DIR and, with --generated, the
files bench/generate.py wrote.

    .venv/bin/python bench/generate.py --docs 2000 --out /tmp/gen2k --data DIR
    .venv/bin/python bench/bench_extract_tables.py --data DIR [--generated /tmp/gen2k] [--examples 10]
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import sys
from collections import Counter
from pathlib import Path

from tokenmill.pipelines.config import load_config
from tokenmill.transforms.document import Document, Drop
from tokenmill.transforms.extract import extract_document, extract_main_text
from tokenmill.transforms.language import LanguageStep
from tokenmill.transforms.quality import assess_quality
from tokenmill.transforms.warc import iter_warc

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import add_data_argument, data_dir, print_table  # noqa: E402  (bench/ is not a package)



def pages(paths: list[Path]):
    for path in paths:
        for doc in iter_warc(io.BytesIO(path.read_bytes()), path.name):
            if isinstance(doc, Document) and doc.html is not None:
                yield doc


def outcome(doc: Document, language: LanguageStep, cfg) -> str:
    """`kept`, or the reason of the language or quality stage that drops `doc`."""
    labelled = language([doc])[0]
    if isinstance(labelled, Drop):
        return labelled.reason.value
    result = assess_quality(labelled, cfg.quality)
    return result.reason.value if isinstance(result, Drop) else "kept"


def measure(name: str, paths: list[Path], cfg, examples: list[dict]) -> dict:
    rows_cfg = dataclasses.replace(cfg.extract, plain_tables=False)
    plain_cfg = dataclasses.replace(cfg.extract, plain_tables=True)
    language = LanguageStep(cfg.language)
    counts, moves = Counter(), Counter()
    for doc in pages(paths):
        extracted = extract_document(doc, rows_cfg, lambda html, url: extract_main_text(html, url, rows_cfg))
        plain = extract_document(doc, plain_cfg, lambda html, url: extract_main_text(html, url, plain_cfg))
        counts["html_pages"] += 1
        if not isinstance(extracted, Document) or not isinstance(plain, Document):
            counts["not_extracted"] += 1
            continue
        if plain.text == extracted.text:
            continue
        counts["text_changed"] += 1
        before, after = outcome(extracted, language, cfg), outcome(plain, language, cfg)
        if before != after:
            counts["outcome_changed"] += 1
            moves[f"{before} -> {after}"] += 1
        examples.append({"corpus": name, "url": doc.url, "before": before, "after": after,
                         "rows_text": extracted.text, "plain_text": plain.text})
    return {"corpus": name, "files": len(paths), **counts, "changes": ", ".join(f"{k}: {v}" for k, v in moves.items())}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_argument(p, "warc")
    p.add_argument("--generated", type=Path, help="a directory of gen-*.warc.gz from bench/generate.py")
    p.add_argument("--examples", type=int, default=10, help="changed pages to print")
    p.add_argument("--skip-real", action="store_true", help="only the generated corpus")
    args = p.parse_args(argv)
    cfg = load_config("default", [])
    examples: list[dict] = []
    rows = [] if args.skip_real else [measure("real WARCs", sorted((data_dir(args, "warc") / "warc").glob("*.warc.gz")), cfg,
                                              examples)]
    if args.generated:
        rows.append(measure("generated", sorted(args.generated.glob("*.warc.gz")), cfg, examples))
    print_table("Pages whose text and outcome change with plain table cells (trafilatura, default config)", rows)
    examples.sort(key=lambda ex: ex["before"] == ex["after"])   # changed outcomes first, then changed text
    for ex in examples[:args.examples]:
        print(f"\n### {ex['corpus']}: {ex['url']}\n{ex['before']} -> {ex['after']}")
        print("rows : " + ex["rows_text"][:400].replace("\n", " / "))
        print("plain: " + ex["plain_text"][:400].replace("\n", " / "))
    return 0


if __name__ == "__main__":
    sys.exit(main())
