"""The filter stages `filters.order` can name, each with its step label and how to build it.

Adding a stage is one entry here (after its pure module and config exist, DESIGN.md section 5):
the label is the stable CamelCase step name seen in runner UIs and metrics, and `build` returns
the PTransform given the whole RunConfig (it hands the stage only its own slice) and the ledger.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import apache_beam as beam

from tokenmill.transforms.beam.exact_dedup import ExactDedup
from tokenmill.transforms.beam.near_dedup import NearDedup

if TYPE_CHECKING:
    from tokenmill.pipelines.config import RunConfig
    from tokenmill.transforms.beam.ledger import Ledger


@dataclass(frozen=True)
class StageSpec:
    label: str
    """Stable CamelCase step label (e.g. IdentifyLanguage)."""
    build: Callable[["RunConfig", "Ledger"], beam.PTransform]
    """Returns the stage's PTransform: PCollection[Document] -> PCollection[Document] (kept)."""
    enabled: Callable[["RunConfig"], bool]


STAGES: dict[str, StageSpec] = {}


def _build_url(cfg: "RunConfig", ledger: "Ledger") -> beam.PTransform:
    from tokenmill.transforms.beam.stage import ApplyFilter
    from tokenmill.transforms.url_filter import UrlFilterStep
    return ApplyFilter("url", functools.partial(UrlFilterStep, cfg.url), ledger)


def _build_language(cfg: "RunConfig", ledger: "Ledger") -> beam.PTransform:
    from tokenmill.transforms.beam.stage import ApplyFilter
    from tokenmill.transforms.language import LanguageStep
    return ApplyFilter("language", functools.partial(LanguageStep, cfg.language), ledger,
                       batch_size=cfg.language.batch_size, histograms=(("lang_score", "score"),),
                       categories=("lang",))


def _build_quality(cfg: "RunConfig", ledger: "Ledger") -> beam.PTransform:
    from tokenmill.transforms.beam.stage import ApplyFilter
    from tokenmill.transforms.quality import QualityStep
    return ApplyFilter("quality", functools.partial(QualityStep, cfg.quality), ledger,
                       histograms=(("words", "chars"), ("mean_word_length", "chars")), categories=("lang",))


STAGES["url"] = StageSpec("FilterUrls", _build_url, lambda cfg: cfg.url.enabled)
STAGES["language"] = StageSpec("IdentifyLanguage", _build_language, lambda cfg: cfg.language.enabled)
STAGES["quality"] = StageSpec("FilterQuality", _build_quality, lambda cfg: cfg.quality.enabled)


def _build_pii(cfg: "RunConfig", ledger: "Ledger") -> beam.PTransform:
    from tokenmill.transforms.beam.pii import ScrubPII   # presidio and spaCy load only when used
    return ScrubPII(cfg.pii, ledger)


STAGES["pii"] = StageSpec("ScrubPII", _build_pii, lambda cfg: cfg.pii.enabled)


def _build_exact_dedup(cfg: "RunConfig", ledger: "Ledger") -> beam.PTransform:
    return ExactDedup(cfg.exact_dedup, ledger)


def _build_near_dedup(cfg: "RunConfig", ledger: "Ledger") -> beam.PTransform:
    return NearDedup(cfg.near_dedup, ledger)


STAGES["exact_dedup"] = StageSpec("DedupExact", _build_exact_dedup, lambda cfg: cfg.exact_dedup.enabled)
STAGES["near_dedup"] = StageSpec("DedupNear", _build_near_dedup, lambda cfg: cfg.near_dedup.enabled)
