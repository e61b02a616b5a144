"""The filter stages `filters.order` can name, each with its step label and how to build it.

Adding a stage is one entry here (after its pure module and config exist, DESIGN.md section 5):
the label is the stable CamelCase step name seen in runner UIs and metrics, and `build` returns
the PTransform given the whole RunConfig (it hands the stage only its own slice) and the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import functools

import apache_beam as beam

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


def _build_toxicity(cfg: "RunConfig", ledger: "Ledger") -> beam.PTransform:
    from tokenmill.transforms.beam.stage import ApplyFilter
    from tokenmill.transforms.toxicity import make_toxicity_step

    tox = cfg.toxicity
    return ApplyFilter("toxicity", functools.partial(make_toxicity_step, tox), ledger,
                       batch_size=tox.batch_size, histograms=(("toxicity", "score"),),
                       top_samples="toxicity")


STAGES["toxicity"] = StageSpec("ScoreToxicity", _build_toxicity, lambda cfg: cfg.toxicity.enabled)
