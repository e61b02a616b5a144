"""The language identifiers bench_language.py compares, each as text -> label in lid.176's codes.

lid.176 and CLD2 are the stage's own models (transforms/language.py). The others are measured
only where installed (`pip install cld3-py py3langid lingua-language-detector`); they are not
tokenmill dependencies. Measured here on the UDHR sentences (bench_language.py --extra-models,
2 shared cores, per sentence): lid.176 ~160 us, CLD2 ~30 us, CLD3 ~190 us, langid.py ~320 us,
lingua low-accuracy ~2.2 ms, lingua high-accuracy ~15 ms and 1.3 GB (not offered: too slow for a
pipeline stage; lingua is also where the benchmark's language set comes from).
"""

from __future__ import annotations

from typing import Callable

from tokenmill.transforms.language import LanguageModel

# Codes that name the same language differently from lid.176 (CLD2/CLD3's old Hebrew and Javanese
# codes, Norwegian Bokmal, Filipino).
_SAME = {"iw": "he", "jw": "jv", "nb": "no", "fil": "tl", "in": "id"}


def to_lid(code: str) -> str:
    code = code.lower().replace("_", "-")
    code = _SAME.get(code, code)
    return _SAME.get(code.split("-")[0], code.split("-")[0])


def lid176() -> Callable[[str], str]:
    model = LanguageModel(top_k=1)
    return lambda text: model.predict_one(text)[0][0]


def cld2() -> Callable[[str], str]:
    """CLD2's top label whether or not it calls it reliable ('' where it finds none)."""
    import pycld2

    def identify(text: str) -> str:
        try:
            _, _, details = pycld2.detect(text, isPlainText=True, bestEffort=True)
        except pycld2.error:
            return ""
        return "" if details[0][1] == "un" else to_lid(details[0][1])
    return identify


def cld3() -> Callable[[str], str]:
    import gcld3   # PyPI cld3-py
    detector = gcld3.NNetLanguageIdentifier(min_num_bytes=0, max_num_bytes=1000)
    return lambda text: to_lid(detector.FindLanguage(text=text).language)


def langid_py() -> Callable[[str], str]:
    import py3langid
    return lambda text: to_lid(py3langid.classify(text)[0])


def lingua_low() -> Callable[[str], str]:
    from lingua import LanguageDetectorBuilder
    detector = LanguageDetectorBuilder.from_all_languages().with_low_accuracy_mode().build()

    def identify(text: str) -> str:
        language = detector.detect_language_of(text)
        return to_lid(language.iso_code_639_1.name) if language else ""
    return identify


BASE = {"lid176": lid176, "cld2": cld2}
EXTRA = {"cld3": cld3, "langid_py": langid_py, "lingua_low": lingua_low}
