"""Presidio analysis built offline, and run only where findings are possible, with the same findings.

Building: `AnalyzerEngine()` with no arguments downloads `en_core_web_lg`. Here the engine is
built explicitly from the recognizers of `pii_recognizers` and a spaCy pipeline loaded without
any download: `spacy.blank(language)` (a tokenizer; enough for pattern recognizers and their
context words) or, when `ner_model` names an installed package or a pipeline directory, that
pipeline and Presidio's `SpacyRecognizer` over its entities.

Speed without losing findings. Presidio's `analyze` tokenises the whole document with spaCy,
builds lemma and keyword lists, runs every recognizer over the whole text and looks up context
words with linear scans. On web text nearly all of that is spent on lines that cannot hold any
finding. `PiiAnalyzer.analyze_many` therefore:
1. runs each recognizer's trigger over the whole text: its own regular expressions (Presidio's
   `PatternRecognizer`s, compiled with the recognizer's flags and the same `regex` module) or a
   recognizer's `triggers(text)` method; every finding of a recognizer lies on a line where its
   trigger matches;
2. analyses only windows of whole lines around those lines, with enough lines before and after
   that Presidio's context search (`context_prefix_count` keywords back, `context_suffix_count`
   forward) ends inside the window: every newline run is a spaCy token that counts as a keyword;
3. tokenises all windows of a batch with one `nlp.pipe` call, maps offsets back.
This gives the findings of `AnalyzerEngine.analyze` on the whole document because (a) no pattern
of these recognizers can match a newline, so matches and their validation are line-local, and the
lookarounds see the same non-word boundary at a line start as at a string start; (b) spaCy
tokenises whitespace-separated chunks independently, so tokens inside a window equal those of
the whole document; (c) the keyword test is per word (see `LocalKeywords`). With a NER model or a
recognizer without triggers, windows are whole documents (batched all the same). The test suite
and `bench/bench_pii.py` check the equality against the naive loop on real and synthetic data.
"""

from __future__ import annotations

import bisect
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator, Sequence

import regex
import spacy
from presidio_analyzer import AnalyzerEngine, EntityRecognizer, PatternRecognizer, RecognizerRegistry, \
    RecognizerResult
from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer
from presidio_analyzer.nlp_engine import NerModelConfiguration, NlpArtifacts, SpacyNlpEngine

from tokenmill.transforms.pii_recognizers import ner_recognizer, pattern_recognizers, prefilter_for

if TYPE_CHECKING:
    from tokenmill.transforms.pii_config import PIIConfig

Finding = tuple[str, int, int, float]
"""(entity type, start, end, score): what analysis returns, comparable across runs."""


class LocalKeywords:
    """Presidio's keyword list as a per-word test (O(1) instead of a scan of the document's list).

    Presidio keeps a lemma as a context keyword unless it is a stop word, punctuation, `-PRON-` or
    `be`, and splits keywords on ':'. A word with ':' is therefore never a keyword; a stop word
    could only be one when it is a ':'-part of another token of the same document (`the:end`),
    the single case where this test differs, and the one that would make context non-local.
    """

    def __init__(self, vocab):
        self._vocab = vocab

    def __contains__(self, word: str) -> bool:
        if ":" in word or word in ("-pron-", "be"):
            return False
        lexeme = self._vocab[word]
        return not (lexeme.is_stop or lexeme.is_punct)

    def __iter__(self):
        return iter(())


class _Artifacts(NlpArtifacts):
    def set_keywords(self, nlp_engine, lemmas, language):   # noqa: D102 (called by NlpArtifacts.__init__)
        return LocalKeywords(nlp_engine.get_nlp(language).vocab)


class PipelineNlpEngine(SpacyNlpEngine):
    """Presidio's spaCy engine over a pipeline object given to it (loading never downloads).

    A pipeline without a lemmatizer (spacy.blank) has empty lemmas, which would silence every
    context word; the lower-cased token stands in for the lemma then.
    """

    def __init__(self, nlp: spacy.language.Language, language: str = "en",
                 ner_model_configuration: NerModelConfiguration | None = None):
        super().__init__(models=[{"lang_code": language, "model_name": nlp.meta.get("name", "blank")}],
                         ner_model_configuration=ner_model_configuration)
        self.nlp = {language: nlp}

    def load(self) -> None:
        pass

    def _doc_to_nlp_artifact(self, doc, language: str) -> NlpArtifacts:
        entities, scores = self._get_updated_entities(list(self._get_entities(doc)),
                                                      self._get_scores_for_entities(doc))
        return _Artifacts(entities=entities, tokens=doc, tokens_indices=[t.idx for t in doc],
                          lemmas=[t.lemma_ or t.lower_ for t in doc], nlp_engine=self, language=language,
                          scores=scores)


def load_pipeline(ner_model: str, language: str) -> spacy.language.Language:
    """spacy.blank(language), or the installed package / pipeline directory `ner_model` (no download)."""
    if not ner_model:
        return spacy.blank(language)
    if not (spacy.util.is_package(ner_model) or Path(ner_model).exists()):
        raise ValueError(f"pii.ner_model: '{ner_model}' is neither an installed spaCy package nor a "
                         "pipeline directory (nothing is downloaded at run time)")
    return spacy.load(ner_model)


def build_analyzer(cfg: "PIIConfig") -> AnalyzerEngine:
    """The AnalyzerEngine for a PII config: its recognizers, its pipeline, its context settings."""
    # Presidio logs every recognizer it loads at INFO, on every worker and for every scrubber.
    logging.getLogger("presidio-analyzer").setLevel(logging.WARNING)
    nlp = load_pipeline(cfg.ner_model, cfg.language)
    engine = PipelineNlpEngine(nlp, cfg.language)
    registry = RecognizerRegistry(supported_languages=[cfg.language])
    for recognizer in pattern_recognizers(cfg.entities, cfg.phone_regions, cfg.public_ips_only, cfg.language):
        registry.add_recognizer(recognizer)
    if cfg.ner_model:
        ner = ner_recognizer(cfg.ner_entities, cfg.language)
        if ner is not None:
            registry.add_recognizer(ner)
    enhancer = LemmaContextAwareEnhancer(context_prefix_count=cfg.context_prefix_words,
                                         context_suffix_count=cfg.context_suffix_words)
    return AnalyzerEngine(registry=registry, nlp_engine=engine, supported_languages=[cfg.language],
                          default_score_threshold=cfg.score_threshold, context_aware_enhancer=enhancer)


def configured_entities(cfg: "PIIConfig") -> list[str]:
    return list(cfg.entities) + (list(cfg.ner_entities) if cfg.ner_model else [])


def findings(results: Iterable[RecognizerResult]) -> list[Finding]:
    return sorted((r.entity_type, r.start, r.end, round(r.score, 6)) for r in results)


def blocks_with(prefilter: re.Pattern, text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of runs of consecutive lines of `text` holding a match of `prefilter`."""
    block, pos = None, 0
    while (m := prefilter.search(text, pos)) is not None:
        start = text.rfind("\n", 0, m.start()) + 1
        end = text.find("\n", m.end())
        end = len(text) if end < 0 else end
        if block is not None and start == block[1] + 1:
            block = (block[0], end)
        else:
            if block is not None:
                yield block
            block = (start, end)
        pos = end + 1
    if block is not None:
        yield block


class PatternTrigger:
    """Positions on every line where one of a PatternRecognizer's patterns matches.

    The patterns are scanned as one alternation: at the first position of a line where any of
    them matches, the alternation matches, and no match continues past a newline, so the lines
    found are exactly the lines with a match of some pattern. Only blocks of lines where the
    prefilter hits are scanned, with finditer(text, pos, endpos): the pattern sees the same
    characters before a block as in a scan of the whole text, and the end of the block where the
    whole text has a newline.
    """

    def __init__(self, patterns: list[str], flags: int, prefilter: re.Pattern | None):
        self.pattern = regex.compile("|".join(f"(?:{p})" for p in patterns), flags)
        self.prefilter = prefilter

    def positions(self, text: str) -> Iterator[int]:
        """The first match of each line that has one (the windows need lines, not every match)."""
        blocks = [(0, len(text))] if self.prefilter is None else blocks_with(self.prefilter, text)
        for start, end in blocks:
            pos = start
            while pos <= end and (m := self.pattern.search(text, pos, end)) is not None:
                yield m.start()
                newline = text.find("\n", m.end(), end)
                if newline < 0:
                    break
                pos = newline + 1


class _RecognizerTrigger:
    def __init__(self, recognizer):
        self.recognizer = recognizer

    def positions(self, text: str) -> Iterable[int]:
        return self.recognizer.triggers(text)


def trigger_of(recognizer: EntityRecognizer):
    """A trigger whose positions cover the line of every finding of `recognizer`; None: unknown."""
    if hasattr(recognizer, "triggers"):
        return _RecognizerTrigger(recognizer)
    if isinstance(recognizer, PatternRecognizer) and recognizer.patterns and not recognizer.deny_list:
        patterns = [p.regex for p in recognizer.patterns]
        if any(_BACKREFERENCE.search(p) for p in patterns):
            return None      # numbered groups shift in an alternation; such patterns are not pre-checked
        return PatternTrigger(patterns, recognizer.global_regex_flags, prefilter_for(recognizer))
    return None


_BACKREFERENCE = re.compile(r"\\[1-9]|\(\?P=|\\g<")


class PiiAnalyzer:
    """An AnalyzerEngine plus the windowed, batched analysis described in the module docstring."""

    def __init__(self, analyzer: AnalyzerEngine, entities: Sequence[str], language: str = "en",
                 windowed: bool = True, batch_size: int = 64):
        self.analyzer, self.entities, self.language = analyzer, list(entities), language
        self.batch_size = batch_size
        recognizers = analyzer.registry.get_recognizers(language=language, entities=self.entities)
        triggers = [trigger_of(r) for r in recognizers]
        self._triggers = None if not windowed or any(t is None for t in triggers) else triggers
        enhancer = analyzer.context_aware_enhancer
        # Newline runs are keyword tokens: this many lines before/after bound the context search.
        self._lines_before = getattr(enhancer, "context_prefix_count", 5) + 2
        self._lines_after = getattr(enhancer, "context_suffix_count", 0) + 2

    @property
    def windowed(self) -> bool:
        return self._triggers is not None

    def analyze_one(self, text: str) -> list[RecognizerResult]:
        """The reference: AnalyzerEngine.analyze on the whole text."""
        return self.analyzer.analyze(text=text, language=self.language, entities=self.entities)

    def windows(self, text: str) -> list[tuple[int, int]]:
        """Character ranges (whole lines) that hold every possible finding and its context."""
        if self._triggers is None:
            return [(0, len(text))] if text else []
        positions = {p for t in self._triggers for p in t.positions(text)}
        if not positions:
            return []
        starts = [0] + [m.end() for m in re.finditer("\n", text)]
        spans: list[list[int]] = []
        for line in sorted({bisect.bisect_right(starts, pos) - 1 for pos in positions}):
            first, final = self._reach(text, starts, line, -1), self._reach(text, starts, line, +1)
            if spans and first <= spans[-1][1] + 1:
                spans[-1][1] = max(spans[-1][1], final)
            else:
                spans.append([first, final])
        return [(starts[a], _line_end(text, starts, b)) for a, b in spans]

    def _reach(self, text: str, starts: list[int], line: int, step: int) -> int:
        """The line index `lines_before` (or after) non-blank lines away from `line`, or the edge."""
        need = self._lines_before if step < 0 else self._lines_after
        while need and 0 <= line + step < len(starts):
            line += step
            if text[starts[line]:_line_end(text, starts, line)].strip():
                need -= 1
        return line

    def analyze_many(self, texts: Sequence[str]) -> list[list[RecognizerResult]]:
        """Findings per text, equal to `analyze_one` on each; one nlp.pipe call for all windows."""
        plan = [(i, a, b) for i, text in enumerate(texts) for a, b in self.windows(text)]
        out: list[list[RecognizerResult]] = [[] for _ in texts]
        if not plan:
            return out
        pieces = [texts[i][a:b] for i, a, b in plan]
        batches = self.analyzer.nlp_engine.process_batch(pieces, self.language, batch_size=self.batch_size)
        for (i, a, _), (piece, artifacts) in zip(plan, batches):
            for r in self.analyzer.analyze(text=piece, language=self.language, entities=self.entities,
                                           nlp_artifacts=artifacts):
                r.start, r.end = r.start + a, r.end + a
                out[i].append(r)
        return out


def _line_end(text: str, starts: list[int], line: int) -> int:
    return starts[line + 1] - 1 if line + 1 < len(starts) else len(text)
