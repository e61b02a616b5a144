"""Adapters from pure check functions to stage steps.

A filter is written as `check(doc, cfg) -> DropReason | Drop | None` (DESIGN.md section 4.1);
`ApplyFilter` runs steps (`Document -> Document | Drop | Failure`). `check_step(check, cfg)` is
the factory that joins the two, picklable so that Beam can ship it to workers.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable

from tokenmill.transforms.document import Document, Drop, DropReason, Outcome

Check = Callable[[Document, Any], "DropReason | Drop | None"]


@dataclass(frozen=True)
class CheckStep:
    check: Check
    cfg: Any

    def __call__(self, doc: Document) -> Outcome:
        verdict = self.check(doc, self.cfg)
        if verdict is None:
            return doc
        return verdict if isinstance(verdict, Drop) else Drop(verdict)


def check_step(check: Check, cfg: Any) -> Callable[[], CheckStep]:
    """The step factory for a pure check with its config slice."""
    return functools.partial(CheckStep, check, cfg)
