"""The cascade (`builtin_model: cascade`): which chunks e5 re-scores, and what score is stored.

Pure tables first (escalation_mask, cascade_scores, gate_applies), then the real shipped models on
a few texts: the cascade's score must be exactly e5's where it escalated and the fast model's
(capped) where it did not. How good the cascade is comes from bench/bench_toxicity.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from tokenmill.transforms.document import Document
from tokenmill.transforms.toxicity import (
    ToxicityConfig, ToxicityStep, cascade_scores, escalation_mask, gate_applies, split_chunks,
)
from tokenmill.transforms.toxicity_models import BuiltinScorer, CascadeScorer, make_scorer

# doc_of: chunks 0-2 in document 0, 3-4 in document 1, 5 in document 2
FAST = np.array([0.01, 0.5, 0.3, 0.02, 0.9, 0.0])
DOC_OF = np.array([0, 0, 0, 1, 1, 2])


@pytest.mark.parametrize("gated, at, top, at_other, expected", [
    ([1, 1, 1], 0.2, 0, 0.0, [0, 1, 1, 0, 1, 0]),    # every chunk at or above 0.2
    ([1, 1, 1], 0.3, 0, 0.0, [0, 1, 1, 0, 1, 0]),    # "at or above": 0.3 itself escalates
    ([1, 1, 1], 0.2, 1, 0.0, [0, 1, 0, 0, 1, 0]),    # at most one per document: the highest fast score
    ([1, 1, 1], 0.95, 1, 0.0, [0, 0, 0, 0, 0, 0]),   # nothing suspicious: e5 never runs
    ([0, 1, 1], 0.95, 2, 0.0, [0, 1, 1, 0, 0, 0]),   # ungated document 0, at_other 0: its top two, whatever the score
    ([1, 1, 0], 0.95, 1, 0.0, [0, 0, 0, 0, 0, 1]),   # ungated one-chunk document 2
    ([0, 0, 0], 0.95, 0, 0.0, [1, 1, 1, 1, 1, 1]),   # nothing gated, no cap, at_other 0: e5 on everything
    # the budget for other languages: their own threshold, still at most `top` per document
    ([0, 1, 1], 0.95, 2, 0.4, [0, 1, 0, 0, 0, 0]),   # document 0: only 0.5 reaches 0.4
    ([1, 0, 1], 0.95, 1, 0.02, [0, 0, 0, 0, 1, 0]),  # document 1: both reach 0.02, the top one goes
    ([0, 0, 0], 0.1, 0, 0.6, [0, 0, 0, 0, 1, 0]),    # nothing gated: `at` is not read
    ([1, 0, 0], 0.6, 0, 0.1, [0, 0, 0, 0, 1, 0]),    # document 0 gated at 0.6: nothing there
    ([1, 1, 0], 0.6, 1, 0.0, [0, 0, 0, 0, 1, 1]),    # a clean page (fast 0.0) outside the gate with at_other 0
])
def test_escalation_mask(gated, at, top, at_other, expected):
    got = escalation_mask(FAST, DOC_OF, np.array(gated, dtype=bool), at, top, at_other)
    assert got.tolist() == [bool(e) for e in expected]


def test_escalation_of_a_document_does_not_depend_on_its_batch():
    # The budget is a threshold, not a share of a batch: a document escalates or not by itself.
    gated = np.array([1, 0, 1], dtype=bool)
    together = escalation_mask(FAST, DOC_OF, gated, 0.25, 1, 0.4)
    alone = np.concatenate([escalation_mask(FAST[DOC_OF == d], np.zeros((DOC_OF == d).sum(), dtype=int),
                                            gated[d:d + 1], 0.25, 1, 0.4) for d in range(3)])
    assert together.tolist() == alone.tolist() == [False, True, False, False, True, False]


def test_cascade_scores_take_e5_where_escalated_and_cap_the_rest():
    fast = np.array([0.01, 0.5, 0.3, 0.9])
    e5 = np.array([0.7, 0.05, 0.99, 0.2])
    escalated = np.array([False, True, False, True])
    # chunk 2 (fast 0.3, not escalated: over the cap of its document) counts only up to `at`
    assert cascade_scores(fast, e5, escalated, 0.1).tolist() == [0.01, 0.05, 0.1, 0.2]
    # per chunk, each its document's threshold (gated 0.1, other 0.4)
    assert cascade_scores(fast, e5, escalated, np.array([0.1, 0.1, 0.4, 0.4])).tolist() == [0.01, 0.05, 0.3, 0.2]


@pytest.mark.parametrize("lang, languages, gated", [
    ("en", ("en",), True), ("de", ("en",), False), ("", ("en",), True), ("de", ("en", "de"), True), ("en", (), False),
])
def test_gate_applies(lang, languages, gated):
    assert gate_applies(Document(id="d", text="x", lang=lang), languages) is gated


# --- the real shipped models ---

INSULT = "You are a worthless piece of garbage, shut up you stupid idiot."
SLUR_FREE = "Immigrants are filthy parasites and should all be thrown out."
GERMAN = "Du bist ein dummer Idiot und alle hassen dich."
CLEAN = "Preheat the oven to 180 degrees and grease the baking tin."
NEWS = ("The city council approved the new budget on Tuesday after a long debate about road repairs, "
        "school funding and the renovation of the public library.")


@pytest.fixture(scope="module")
def models():
    cfg = ToxicityConfig(threshold=1.0)
    return {"cascade": CascadeScorer(cfg), "e5": BuiltinScorer(ToxicityConfig(builtin_model="e5")),
            "fast": BuiltinScorer(ToxicityConfig(builtin_model="fast"))}


@pytest.mark.parametrize("text, lang, escalated", [
    (INSULT, "en", True),        # the fast model flags it: e5 decides
    (SLUR_FREE, "en", False),    # fast is unsure of slur-free hate (about 0.1): under the budget it stays unseen
    (CLEAN, "en", False),        # plainly clean to the fast model: e5 never runs
    (NEWS, "en", False),
    (GERMAN, "de", True),        # not a gated language: its own threshold (escalate_at_other), reached
    (CLEAN, "de", False),        # ... not reached: e5 no longer runs on every non-English page
])
def test_real_cascade_scores_one_chunk_documents(models, text, lang, escalated):
    step = ToxicityStep(ToxicityConfig(threshold=1.0), lambda cfg: models["cascade"])
    [out] = step([Document(id="d", text=text, lang=lang)])
    assert out.signals["toxicity_escalated"] == float(escalated)
    fast, e5 = models["fast"]([text])[0, 0], models["e5"]([text])[0, 0]
    cfg = ToxicityConfig()
    at = cfg.escalate_at if lang == "en" else cfg.escalate_at_other
    assert (fast >= at) == escalated                       # the table's texts are far from the gates
    assert abs(fast - at) > 0.05
    expected = e5 if escalated else min(fast, at)
    assert out.toxicity == pytest.approx(expected, abs=1e-6)


def test_real_cascade_long_page_escalates_only_its_most_suspicious_chunk(models):
    # 200-character chunks: each paragraph is its own chunk; a gate low enough (0.1) that both
    # toxic paragraphs are candidates
    page = "\n".join([NEWS] * 3 + [INSULT] + [NEWS] * 3 + [SLUR_FREE])
    cfg = ToxicityConfig(threshold=1.0, chunk_chars=200, escalate_at=0.1)
    chunks = split_chunks(page, cfg.chunk_chars)
    assert len(chunks) == 8
    fast = models["fast"](chunks)[:, 0]
    assert (fast >= cfg.escalate_at).sum() == 2 and int(np.argmax(fast)) == 3    # two candidates, INSULT first
    [out] = ToxicityStep(cfg, make_scorer)([Document(id="p", text=page, lang="en")])
    assert out.signals["toxicity_escalated"] == 1.0                              # escalate_top = 1
    others = np.minimum(np.delete(fast, 3), cfg.escalate_at)
    assert out.toxicity == pytest.approx(max(models["e5"]([INSULT])[0, 0], *others), abs=1e-6)
    uncapped = ToxicityStep(ToxicityConfig(threshold=1.0, chunk_chars=200, escalate_at=0.1, escalate_top=0),
                            make_scorer)
    assert uncapped([Document(id="p", text=page, lang="en")])[0].signals["toxicity_escalated"] == 2.0


def test_make_scorer_builds_the_cascade_by_default_and_rejects_a_single_model_path():
    assert isinstance(make_scorer(ToxicityConfig()), CascadeScorer)
    with pytest.raises(ValueError, match="uses the shipped pair"):
        ToxicityConfig(model_path="/some/head.npz")
    with pytest.raises(ValueError, match="escalate_at"):
        ToxicityConfig(escalate_at=1.5)
    with pytest.raises(ValueError, match="escalate_at_other"):
        ToxicityConfig(escalate_at_other=-0.1)


def test_cascade_refuses_a_mean_combine_that_capped_chunks_could_never_lift_over_the_threshold():
    with pytest.raises(ValueError, match="other than max needs escalate_top: 0"):
        ToxicityConfig(combine="top2_mean")
    assert ToxicityConfig(combine="top2_mean", escalate_top=0).combine == "top2_mean"
    assert ToxicityConfig(combine="mean", mode="spans").mode == "spans"
