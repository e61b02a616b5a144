"""Configuration of the PII stage (`pii` section), kept free of heavy imports.

The CLI loads the config for every command; Presidio and spaCy load only when the stage runs.
Field meanings and defaults are documented below; the stage itself is `pii.py`.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from tokenmill.transforms.typed_config import check_minimums

Operator = Literal["tag", "surrogate", "mask", "hash"]

PATTERN_ENTITIES = ("EMAIL_ADDRESS", "PHONE_NUMBER", "IP_ADDRESS", "CREDIT_CARD", "IBAN_CODE", "US_SSN",
                    "CRYPTO")
"""Entities found by patterns and checksums, without any model."""

DEFAULT_REGIONS = ("US", "GB", "DE", "FR", "ES", "IT", "NL", "BE", "CH", "AT", "SE", "NO", "DK",
                   "PL", "IE", "IN", "CA", "AU", "BR", "MX", "JP")
"""Regions whose national phone formats are recognised for numbers written without a `+` prefix."""


@dataclass(frozen=True)
class PIIConfig:
    enabled: bool = True
    """Scrub personal data from kept documents (stage `pii`) and from all text the ledger writes."""
    entities: tuple[str, ...] = PATTERN_ENTITIES
    """Pattern entities to find (no model needed): any of EMAIL_ADDRESS, PHONE_NUMBER, IP_ADDRESS,
    CREDIT_CARD, IBAN_CODE, US_SSN, CRYPTO."""
    phone_regions: tuple[str, ...] = DEFAULT_REGIONS
    """ISO 3166 regions whose numbering plans `phonenumbers` checks weakly shaped numbers against."""
    public_ips_only: bool = True
    """Replace only globally routable IPs; private, loopback and reserved ranges stay (FineWeb)."""
    score_threshold: float = 0.4
    """Minimum Presidio score of a finding (0-1). Weak shapes (0.15) pass only with a context word."""
    context_prefix_words: int = 5
    """Keywords before a candidate searched for context words (Presidio default: 5)."""
    context_suffix_words: int = 0
    """Keywords from the candidate onwards searched for context words (Presidio default: 0)."""
    ner_model: str = ""
    """Installed spaCy package or pipeline directory for NER entities; empty: patterns only."""
    ner_entities: tuple[str, ...] = ("PERSON", "LOCATION")
    """Presidio entities taken from the NER model (after its label mapping: PER/PERSON -> PERSON,
    LOC/GPE -> LOCATION, ORG -> ORGANIZATION)."""
    language: str = "en"
    """Language of recognizers and context words; patterns work on text in any language."""
    operator: Operator = "tag"
    """Replacement for every entity type: tag, surrogate, mask or hash."""
    operators: dict[str, Operator] = field(default_factory=dict)
    """Per entity type overrides of `operator`, e.g. {EMAIL_ADDRESS: surrogate}."""
    tag_format: str = "<{entity}>"
    """Text of a tag; `{entity}` becomes the entity type."""
    hash_key_env: str = "TOKENMILL_PII_KEY"
    """Environment variable holding the HMAC key of the `hash` operator (never in the config)."""
    max_findings: int = 0
    """Drop a document with more findings than this as `too_much_pii`; 0 keeps all (dolma: 5)."""
    scrub_urls: bool = True
    """Also scrub the document URL (emails and phone numbers in query strings)."""
    precheck: bool = True
    """Analyse only lines that can hold a finding (same findings; off: whole documents)."""
    batch_size: int = 64
    """Documents per batched analysis call."""

    def __post_init__(self) -> None:
        unknown = [e for e in self.entities if e not in PATTERN_ENTITIES]
        if unknown:
            raise ValueError(f"entities: unknown '{unknown[0]}' (known: {', '.join(PATTERN_ENTITIES)})")
        known = set(self.entities) | set(self.ner_entities)
        stray = [e for e in self.operators if e not in known]
        if stray:
            raise ValueError(f"operators: '{stray[0]}' is not a configured entity")
        if "{entity}" not in self.tag_format:
            raise ValueError("tag_format: must contain {entity}")
        if not 0.0 <= self.score_threshold <= 1.0:
            raise ValueError("score_threshold: must be within 0..1")
        if self.max_findings < 0 or self.batch_size < 1:
            raise ValueError("max_findings must be >= 0 and batch_size >= 1")
        check_minimums(self, context_prefix_words=0, context_suffix_words=0)
        import phonenumbers
        bad = [r for r in self.phone_regions if r not in phonenumbers.SUPPORTED_REGIONS]
        if bad:
            raise ValueError(f"phone_regions: '{bad[0]}' is not a region phonenumbers knows")
        if self.enabled and self.ner_model and not _spacy_pipeline_exists(self.ner_model):
            raise ValueError(f"ner_model: '{self.ner_model}' is neither an installed spaCy package nor a "
                             "pipeline directory (nothing is downloaded at run time)")
        if self.enabled:
            hash_key(self)

    def operator_for(self, entity: str) -> Operator:
        return self.operators.get(entity, self.operator)


def _spacy_pipeline_exists(name: str) -> bool:
    return Path(name).is_dir() or importlib.util.find_spec(name.replace("-", "_")) is not None


def hash_key(cfg: PIIConfig) -> bytes:
    """The HMAC key of the `hash` operator; an error when some entity uses it and the key is unset."""
    entities = list(cfg.entities) + list(cfg.ner_entities)
    if not any(cfg.operator_for(e) == "hash" for e in entities):
        return b""
    key = os.environ.get(cfg.hash_key_env, "")
    if not key:
        raise ValueError(f"operator hash needs its key in the environment variable {cfg.hash_key_env}")
    return key.encode("utf-8")
