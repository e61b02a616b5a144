"""Toxicity stage logic: sentence and chunk splitting, score combination, drop and span decisions.

The decisions are tested with a transparent scorer (a text's score is written in the text) so
each table row says exactly why a document is kept, cut or dropped; the real backends are
tested in test_toxicity_models.py and test_toxicity_detoxify.py.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from tokenmill.transforms.document import Document, Drop, DropReason
from tokenmill.transforms.toxicity import (
    Scorer, ToxicityConfig, ToxicityStep, combine_scores, split_chunks, split_sentences,
)


class WrittenScore(Scorer):
    """Scores a text by the largest `[0.xx]` written in it (0 when none): the test's ground truth."""

    labels = ("toxicity", "insult")
    main = "toxicity"

    def __init__(self, cfg=None):
        self.calls: list[int] = []

    def __call__(self, texts):
        self.calls.append(len(texts))
        out = []
        for t in texts:
            found = [float(x) for x in re.findall(r"\[(\d\.\d+)\]", t)]
            s = max(found, default=0.0)
            out.append([s, s / 2])
        return np.array(out)


def step(**kw) -> ToxicityStep:
    # builtin_model only names which shipped model would load; WrittenScore replaces it. Not the
    # default cascade, whose config refuses combine rules other than max.
    return ToxicityStep(ToxicityConfig(**{"builtin_model": "fast", **kw}), WrittenScore)


def doc(text: str) -> Document:
    return Document(id="d", text=text)


@pytest.mark.parametrize("text, sentences", [
    ("One. Two! Three?", ["One.", "Two!", "Three?"]),
    ("Line one\nLine two", ["Line one", "Line two"]),
    ("He said \"stop.\" Then left.", ["He said \"stop.\"", "Then left."]),
    ("  padded  ", ["padded"]),
    ("", []),
    ("No end mark", ["No end mark"]),
    ("Dr.Smith stays joined. e.g.this too", ["Dr.Smith stays joined.", "e.g.this too"]),
])
def test_split_sentences(text, sentences):
    assert [text[a:b] for a, b in split_sentences(text)] == sentences


def test_split_chunks_packs_paragraphs_and_splits_long_ones():
    paras = ["a" * 300, "b" * 300, "c" * 300, "d" * 2500]
    chunks = split_chunks("\n".join(paras), 700)
    assert chunks[0] == "a" * 300 + "\n" + "b" * 300            # packed up to 700 chars
    assert chunks[1] == "c" * 300
    assert all(len(c) <= 700 for c in chunks)
    assert "".join(c.replace("\n", "") for c in chunks) == "".join(paras)   # nothing lost
    assert split_chunks("", 700) == [""]


@pytest.mark.parametrize("rule, expected", [
    ("max", [0.9, 0.5]), ("mean", [0.4, 0.3]), ("top2_mean", [0.55, 0.4]),
    ("length_weighted", [(0.1 * 1 + 0.2 * 1 + 0.9 * 2) / 4, (0.1 + 0.3 + 0.5 * 2) / 4]),
])
def test_combine_rules(rule, expected):
    scores = np.array([[0.1, 0.1], [0.2, 0.3], [0.9, 0.5]])
    assert combine_scores(scores, [1, 1, 2], rule) == pytest.approx(expected)


@pytest.mark.parametrize("text, threshold, dropped", [
    ("A calm page about gardening [0.05].", 0.9, False),
    ("A page that is hostile throughout [0.95].", 0.9, True),
    ("Exactly at the threshold is kept [0.90].", 0.9, False),
    ("Threshold 1.0 keeps everything and only scores [0.99].", 1.0, False),
])
def test_document_mode_table(text, threshold, dropped):
    (out,) = step(threshold=threshold)([doc(text)])
    if dropped:
        assert isinstance(out, Drop) and out.reason is DropReason.TOXIC
        assert out.annotated.toxicity == pytest.approx(0.95)    # the score travels with the drop
    else:
        assert isinstance(out, Document)
        assert out.toxicity == pytest.approx(float(re.search(r"\[(\d\.\d+)\]", text).group(1)))
        assert out.toxicity_labels["insult"] == pytest.approx(out.toxicity / 2)


def test_long_document_is_scored_by_chunks_and_max_combined():
    calm = "\n".join(f"Paragraph {i} about trains and timetables [0.02]." for i in range(40))
    text = calm + "\nOne toxic paragraph near the end [0.97]."
    s = step(chunk_chars=200, threshold=0.9)
    (out,) = s([doc(text)])
    assert isinstance(out, Drop)
    assert out.annotated.signals["toxicity_chunks"] > 5
    (mean_out,) = step(chunk_chars=200, combine="mean")([doc(text)])
    assert isinstance(mean_out, Document) and mean_out.toxicity < 0.2     # one chunk in 11


def test_spans_mode_cuts_toxic_sentences_and_keeps_the_rest():
    text = "Welcome to the forum [0.01]. You are vermin [0.80]. Rules are below [0.02].\nBe kind [0.0]."
    (out,) = step(mode="spans", span_threshold=0.4)([doc(text)])
    assert isinstance(out, Document)
    assert out.text == "Welcome to the forum [0.01]. Rules are below [0.02].\nBe kind [0.0]."
    assert out.signals["toxicity_spans_removed"] == 1
    assert out.toxicity == pytest.approx(0.80)     # the score of what came in


@pytest.mark.parametrize("text, reason_detail", [
    ("Only hate here [0.9]. And more [0.7].", "all 2 sentences"),
])
def test_spans_mode_drops_when_nothing_is_left(text, reason_detail):
    (out,) = step(mode="spans")([doc(text)])
    assert isinstance(out, Drop) and reason_detail in out.detail


def test_spans_mode_drops_when_the_rest_is_still_above_threshold():
    text = "Borderline [0.35]. Very bad [0.9]."
    (out,) = step(mode="spans", span_threshold=0.4, threshold=0.3)([doc(text)])
    assert isinstance(out, Drop) and "after cutting 1" in out.detail


def test_batches_chunks_across_documents():
    s = step(batch_size=4, chunk_chars=50)      # one sentence per chunk
    docs = [doc("\n".join(f"Sentence number {i} of doc {j} [0.1]." for i in range(3))) for j in range(3)]
    outs = s(docs)
    assert [round(o.toxicity, 2) for o in outs] == [0.1, 0.1, 0.1]
    assert s.scorer.calls == [4, 4, 1]       # 9 chunks in model batches of 4


def test_config_rejects_bad_values():
    with pytest.raises(ValueError):
        ToxicityConfig(threshold=1.5)
    with pytest.raises(ValueError, match="detoxify_checkpoint"):
        ToxicityConfig(backend="detoxify")
