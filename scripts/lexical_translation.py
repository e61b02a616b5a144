"""Word-by-word English -> German translation of training texts, from the Ding dictionary.

The toxicity model's `fast` first stage is hashed word and character n-grams fitted to English
texts, so it ranks German pages poorly (TOXICITY.md). Labelled German abuse is not obtainable from
the package registries; a bilingual dictionary is (Debian's `trans-de-en`, Ding 1.9 by Frank
Richter, TU Chemnitz, GPL-2+). Translating each training text word by word gives German words the
weights their English sources earn: crude German (no grammar, senses picked by chance), but the
n-grams of the abusive words are what the linear model needs, and character 3-5-grams cover some
inflection. Texts of both classes are translated alike, so German-ness itself carries no label.

Ding's lines read `German alternatives | sub-entry ... :: English alternatives | sub-entry ...`,
the sub-entries aligned by `|`, alternatives separated by `;`, annotations in {} [] ().
"""
from __future__ import annotations

import re
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

DING = Path("/usr/share/trans/de-en")
"""Where Debian's trans-de-en puts the dictionary (scripts/fetch_ding.sh unpacks it into the cache)."""

_ANNOTATION = re.compile(r"\{[^}]*\}|\[[^\]]*\]|\([^)]*\)")
_WORD = re.compile(r"\w+(?:['’]\w+)?", re.UNICODE)
_PLACEHOLDER = re.compile(r"\b(?:sb|sth|jd[mns]?|etw|jds)\.(?:/\w+\.)?|\bsomebody\b|\bsomething\b|…|\.\.\.")
FUNCTION_WORDS = frozenset("""a an the and or but if of to in on at by for with from as is are was were be been being am
do does did have has had it its this that these those there here i me my we us our you your he him his she her they them
their not no so than then too very can could will would shall should may might must just up down out about into over
""".split())
"""English words not translated but dropped from the German copy: the dictionary's senses for
them are mostly wrong ("are" -> the unit "Ar"), and they carry little of a text's toxicity."""


def _clean(term: str) -> str:
    return " ".join(_PLACEHOLDER.sub(" ", term).split()).strip(" ,;:!?")


def load_lexicon(path: Path = DING, max_words: int = 2) -> dict[str, tuple[list[str], np.ndarray]]:
    """English word (lower case) -> (German translations, sampling probabilities).

    Only one-word English terms are kept (verbs without their `to`); German terms of up to
    `max_words` words. A translation's weight is how many aligned sub-entries pair it with the word,
    times the log of how many dictionary lines the German term occurs in (a frequency proxy from
    the same source, which favours common words over rare compounds). Senses stay crude: `kill`
    goes to `abbrechen` (a process) 23% of the time, `zerstören` 21%, `umbringen` 12%, `töten` 6%.
    """
    pairs: dict[str, Counter] = defaultdict(Counter)
    seen: Counter = Counter()
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("#") or " :: " not in line:
            continue
        german, english = (_ANNOTATION.sub(" ", side) for side in line.split(" :: ", 1))
        for de_sub, en_sub in zip(german.split(" | "), english.split(" | ")):
            de_terms = {_clean(t).lower() for t in de_sub.split(";")}
            de_terms = {t for t in de_terms if t and len(t.split()) <= max_words}
            seen.update(de_terms)
            for en in en_sub.split(";"):
                en = _clean(en).lower().removeprefix("to ")
                if en and " " not in en and de_terms:
                    pairs[en].update(de_terms)
    lexicon = {}
    for en, counts in pairs.items():
        terms = sorted(counts)
        weights = np.array([counts[t] * np.log1p(seen[t]) for t in terms], dtype=float)
        lexicon[en] = (terms, weights / weights.sum())
    return lexicon


def translate(text: str, lexicon: dict, rng: np.random.Generator) -> str:
    """`text` with every word the lexicon knows replaced by a sampled German translation, function
    words dropped; other words (names, hashtags, slurs the dictionary lacks, numbers) kept as they are."""
    def one(match: re.Match) -> str:
        word = match.group(0).lower()
        if word in FUNCTION_WORDS:
            return ""
        entry = lexicon.get(word)
        if entry is None:
            return match.group(0)
        terms, p = entry
        return terms[rng.choice(len(terms), p=p)]
    return " ".join(_WORD.sub(one, text).split())
