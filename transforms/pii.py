"""The PII stage: find personal data with Presidio, replace it through presidio-anonymizer, count it.

Detection is `pii_engine.PiiAnalyzer` (offline analyzer, pre-check, windows, batches); replacement
is presidio-anonymizer's `AnonymizerEngine` with one operator per entity type:
- `tag`: `<EMAIL_ADDRESS>` (the format is configurable), what most corpora do;
- `surrogate`: a fixed, obviously fictitious value of the same kind (documentation IP ranges
  of RFC 5737/3849, NANP 555-01xx phones, network test card numbers, example IBANs, the SSA's
  advertising SSNs), chosen by a stable hash of the original so the text stays natural and one
  value always gets the same stand-in; datatrove's PIIFormatter rotates dummy emails and IPs
  the same way;
- `mask`: every character replaced by `*`;
- `hash`: `<EMAIL_ADDRESS:hmac>`, a keyed HMAC-SHA256 (first 16 hex digits) of the value, the key
  read from an environment variable so it never lands in `config.resolved.yaml`.
A document with more than `max_findings` findings can be dropped instead (`too_much_pii`;
dolma drops documents with more than 5). Each kept document carries `pii_counts` (entity type ->
replaced findings) and the signal `pii_findings`.

The config (`PIIConfig`) lives in `pii_config.py`, free of heavy imports.

`make_scrubber(cfg)` is the same detection and replacement as a `str -> str` function: the ledger
passes every text that leaves the pipeline some other way (report samples, rejects, error details)
through it, so nothing under the output directory holds personal data from before this stage.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Sequence

from tokenmill.transforms.document import Document, Drop, DropReason, Outcome, stable_hash
from tokenmill.transforms.pii_config import PIIConfig, hash_key

SURROGATES: dict[str, tuple[str, ...]] = {
    "EMAIL_ADDRESS": ("email@example.com", "firstname.lastname@example.org"),
    "IP_ADDRESS": ("192.0.2.10", "198.51.100.23", "203.0.113.42"),
    "IP_ADDRESS_V6": ("2001:db8::10", "2001:db8:0:1::23"),
    "PHONE_NUMBER": tuple(f"+1-202-555-01{i:02d}" for i in range(0, 100, 7)),
    "CREDIT_CARD": ("4111 1111 1111 1111", "5555 5555 5555 4444", "3782 822463 10005"),
    "IBAN_CODE": ("GB82 WEST 1234 5698 7654 32", "DE89 3704 0044 0532 0130 00"),
    "US_SSN": tuple(f"987-65-432{i}" for i in range(10)),
    "CRYPTO": ("bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh",),
    "CRYPTO_ETH": ("0x000000000000000000000000000000000000dEaD",),
    "PERSON": ("Jane Doe", "John Smith", "Alex Taylor"),
    "LOCATION": ("Springfield", "Riverside", "Fairview"),
}


@dataclass(frozen=True)
class Surrogate:
    """presidio-anonymizer `custom` operator: a stable fictitious stand-in for one entity type."""

    entity: str

    def __call__(self, value: str) -> str:
        kind = self.entity
        if kind == "IP_ADDRESS" and ":" in value:
            kind = "IP_ADDRESS_V6"
        elif kind == "CRYPTO" and value.lower().startswith("0x"):
            kind = "CRYPTO_ETH"
        choices = SURROGATES.get(kind)
        if not choices:
            return f"<{self.entity}>"
        return choices[stable_hash(value) % len(choices)]


@dataclass(frozen=True)
class KeyedHash:
    entity: str
    key: bytes

    def __call__(self, value: str) -> str:
        digest = hmac.new(self.key, value.encode("utf-8"), hashlib.sha256).hexdigest()[:16]
        return f"<{self.entity}:{digest}>"


def operator_configs(cfg: PIIConfig, key: bytes = b"") -> dict:
    """presidio-anonymizer OperatorConfig per entity type (and DEFAULT for anything else)."""
    from presidio_anonymizer.entities import OperatorConfig

    def config(entity: str):
        op = cfg.operator_for(entity)
        if op == "tag":
            return OperatorConfig("replace", {"new_value": cfg.tag_format.format(entity=entity)})
        if op == "mask":
            return OperatorConfig("mask", {"masking_char": "*", "chars_to_mask": 1 << 30, "from_end": False})
        if op == "hash":
            return OperatorConfig("custom", {"lambda": KeyedHash(entity, key)})
        return OperatorConfig("custom", {"lambda": Surrogate(entity)})

    entities = list(cfg.entities) + list(cfg.ner_entities)
    configs = {entity: config(entity) for entity in entities}
    configs["DEFAULT"] = OperatorConfig("replace", {"new_value": cfg.tag_format.format(entity="PII")})
    return configs


def merge_overlaps(results: Sequence) -> list:
    """One finding per group of overlapping findings, over their union, typed by the best of them.

    An IBAN's digit tail is also phone-shaped, a card inside a longer number run, ...: replacing
    the union leaves no piece of either behind, and the count is one finding per group.
    """
    from presidio_analyzer import RecognizerResult

    merged: list = []
    for r in sorted(results, key=lambda r: (r.start, -r.end)):
        if merged and r.start < merged[-1][0].end:
            group = merged[-1]
            group.append(r)
            best = max(group[1:], key=lambda x: (x.score, x.end - x.start))
            group[0] = RecognizerResult(best.entity_type, group[0].start, max(group[0].end, r.end), best.score)
        else:
            merged.append([RecognizerResult(r.entity_type, r.start, r.end, r.score), r])
    return [group[0] for group in merged]


class Scrubber:
    """Analyzer, anonymizer and operators, built once per worker; `scrub_many` is the batched call."""

    def __init__(self, cfg: PIIConfig):
        from presidio_anonymizer import AnonymizerEngine

        from tokenmill.transforms.pii_engine import PiiAnalyzer, build_analyzer, configured_entities
        self.cfg = cfg
        self.analyzer = PiiAnalyzer(build_analyzer(cfg), configured_entities(cfg), cfg.language,
                                    windowed=cfg.precheck, batch_size=cfg.batch_size)
        self.anonymizer = AnonymizerEngine()
        self.operators = operator_configs(cfg, hash_key(cfg))

    def scrub_many(self, texts: Sequence[str]) -> list[tuple[str, Counter]]:
        """(scrubbed text, findings per entity type) for each text."""
        out = []
        for text, results in zip(texts, self.analyzer.analyze_many(texts)):
            if not results:
                out.append((text, Counter()))
                continue
            spans = merge_overlaps(results)
            done = self.anonymizer.anonymize(text=text, analyzer_results=spans, operators=self.operators)
            out.append((done.text, Counter(r.entity_type for r in spans)))
        return out

    def __call__(self, text: str) -> str:
        return self.scrub_many([text])[0][0] if text else text


class PiiStep:
    """The batched stage step: list[Document] -> list[Document | Drop]."""

    def __init__(self, cfg: PIIConfig):
        self.cfg = cfg
        self.scrubber = Scrubber(cfg)

    def __call__(self, docs: Sequence[Document]) -> list[Outcome]:
        texts = self.scrubber.scrub_many([d.text for d in docs])
        urls = self.scrubber.scrub_many([d.url for d in docs]) if self.cfg.scrub_urls else [(d.url, None) for d in docs]
        return [self._outcome(doc, text, counts, url) for doc, (text, counts), (url, _) in zip(docs, texts, urls)]

    def _outcome(self, doc: Document, text: str, counts: Counter, url: str) -> Outcome:
        total = sum(counts.values())
        scrubbed = dataclasses.replace(doc, text=text, url=url, pii_counts=dict(sorted(counts.items())))
        scrubbed = scrubbed.with_signals(pii_findings=float(total))
        if self.cfg.max_findings and total > self.cfg.max_findings:
            return Drop(DropReason.TOO_MUCH_PII, f"{total} findings > max_findings {self.cfg.max_findings}",
                        annotated=scrubbed)
        return scrubbed


def _unchanged(text: str) -> str:
    return text


def make_scrubber(cfg: PIIConfig) -> Callable[[str], str]:
    """The ledger's scrubber factory (called once per worker): the stage's detection and operators."""
    return Scrubber(cfg) if cfg.enabled else _unchanged
