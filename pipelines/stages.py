"""The filter stages `filters.order` can name, each with its step label and how to build it.

Adding a stage is one entry here (after its pure module and config exist, DESIGN.md section 5):
the label is the stable CamelCase step name seen in runner UIs and metrics, and `build` returns
the PTransform given the whole RunConfig (it hands the stage only its own slice) and the ledger.
"""

from __future__ import annotations

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


def _exact_dedup(cfg: "RunConfig", ledger: "Ledger") -> beam.PTransform:
    return ExactDedup(cfg.exact_dedup, ledger)


def _near_dedup(cfg: "RunConfig", ledger: "Ledger") -> beam.PTransform:
    return NearDedup(cfg.near_dedup, ledger)


STAGES["exact_dedup"] = StageSpec("DedupExact", _exact_dedup, lambda cfg: cfg.exact_dedup.enabled)
STAGES["near_dedup"] = StageSpec("DedupNear", _near_dedup, lambda cfg: cfg.near_dedup.enabled)
