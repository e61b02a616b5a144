"""URL filtering: blocked domains and URLs, banned words and subwords, soft words needing two hits.

The design of RefinedWeb (Penedo et al. 2023, "The RefinedWeb Dataset for Falcon LLM", section
G.1) as datatrove's URLFilter implements it, in this order:
1. the host or any parent domain is on the domain blocklist      -> url_blocked_domain
2. the normalised URL (no scheme, no `www.`) is on the URL blocklist -> url_blocked_url
3. a word of the URL (lowercased alphanumeric run) is a banned word  -> url_banned_word
4. two or more distinct soft words are words of the URL           -> url_soft_words
5. a banned subword occurs in the URL with separators removed     -> url_banned_word
A small curated default list ships in `resources/url_*.txt`; large lists are read from
`blocklist_path` in the format of the UT1 blocklists (Universite Toulouse 1 Capitole:
`<category>/domains` and `<category>/urls`, one entry a line), as a directory or a `.tar.gz`.
Documents without a URL (JSONL/Parquet inputs) pass.
"""

from __future__ import annotations

import re
import tarfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Iterable
from urllib.parse import unquote, urlsplit

from tokenmill.transforms.document import Document, Drop, DropReason
from tokenmill.transforms.typed_config import check_minimums

_SEPARATORS = re.compile(r"[\W_]+")


@dataclass(frozen=True)
class UrlFilterConfig:
    enabled: bool = True
    """Filter documents on their URL."""
    default_lists: bool = True
    """Use the curated lists shipped in tokenmill/transforms/resources/url_*.txt."""
    blocklist_path: str = ""
    """UT1-format blocklists: a directory or .tar.gz with <category>/domains and <category>/urls,
    or a plain file of domains, one a line. Empty: none."""
    categories: tuple[str, ...] = ("adult",)
    """UT1 categories read from `blocklist_path` (RefinedWeb and datatrove use `adult`)."""
    extra_domains: tuple[str, ...] = ()
    """More blocked domains (each blocks its subdomains too)."""
    extra_urls: tuple[str, ...] = ()
    """More blocked URLs (scheme and `www.` are ignored)."""
    banned_words: tuple[str, ...] = ()
    """More words that drop a URL on one hit."""
    banned_subwords: tuple[str, ...] = ()
    """More substrings that drop a URL on one hit (matched with separators removed)."""
    soft_words: tuple[str, ...] = ()
    """More words that drop a URL only together with other soft words."""
    soft_word_min_hits: int = 2
    """Distinct soft words a URL needs to be dropped. RefinedWeb/datatrove: 2."""

    def __post_init__(self) -> None:
        check_minimums(self, soft_word_min_hits=1)


@dataclass(frozen=True)
class UrlLists:
    """The compiled lists one worker checks URLs against."""

    domains: frozenset[str] = frozenset()
    urls: frozenset[str] = frozenset()
    banned_words: frozenset[str] = frozenset()
    soft_words: frozenset[str] = frozenset()
    subwords: re.Pattern | None = None
    soft_word_min_hits: int = 2


def clean_entries(lines: Iterable[str]) -> set[str]:
    """Entries of a list file: stripped, lowercased, without blank lines and `#` comments."""
    return {line.strip().lower() for line in lines if line.strip() and not line.lstrip().startswith("#")}


def read_resource(name: str) -> set[str]:
    """One of the curated lists shipped with tokenmill (`resources/<name>`)."""
    text = resources.files("tokenmill.transforms").joinpath("resources", name).read_text(encoding="utf-8")
    return clean_entries(text.splitlines())


def read_ut1(path: str | Path, categories: Iterable[str]) -> tuple[set[str], set[str]]:
    """(domains, urls) from UT1-format blocklists at `path`: directory, .tar.gz, or a domains file."""
    path, categories = Path(path), tuple(categories)
    if not path.exists():
        raise FileNotFoundError(f"url.blocklist_path: {path} does not exist")
    if path.is_file() and tarfile.is_tarfile(path):
        return _read_ut1_tar(path, categories)
    if path.is_file():
        return clean_entries(path.read_text(encoding="utf-8", errors="replace").splitlines()), set()
    domains, urls = set(), set()
    folders = [path / c for c in categories if (path / c).is_dir()] or [path]
    for folder in folders:
        for name, target in (("domains", domains), ("urls", urls)):
            if (folder / name).is_file():
                target |= clean_entries((folder / name).read_text(encoding="utf-8", errors="replace").splitlines())
    if not domains and not urls:
        raise FileNotFoundError(f"url.blocklist_path: no domains/urls files for {categories} under {path}")
    return domains, urls


def _read_ut1_tar(path: Path, categories: tuple[str, ...]) -> tuple[set[str], set[str]]:
    # UT1 ships blacklists.tar.gz (blacklists/<cat>/domains) and <cat>.tar.gz (<cat>/domains).
    domains, urls = set(), set()
    with tarfile.open(path, "r:*") as tar:
        for member in tar:
            parts = member.name.strip("/").split("/")
            if not member.isfile() or len(parts) < 2 or parts[-2] not in categories:
                continue
            if parts[-1] in ("domains", "urls"):
                data = tar.extractfile(member).read().decode("utf-8", errors="replace")
                (domains if parts[-1] == "domains" else urls).update(clean_entries(data.splitlines()))
    return domains, urls


def _subword_pattern(subwords: Iterable[str]) -> re.Pattern | None:
    cleaned = sorted({_SEPARATORS.sub("", s.lower()) for s in subwords} - {""}, key=len, reverse=True)
    return re.compile("|".join(map(re.escape, cleaned))) if cleaned else None


def load_url_lists(cfg: UrlFilterConfig) -> UrlLists:
    """Reads the shipped lists, the configured blocklist files and the extras (once per worker)."""
    domains, urls = set(cfg.extra_domains), set(cfg.extra_urls)
    words, subwords, soft = set(cfg.banned_words), set(cfg.banned_subwords), set(cfg.soft_words)
    if cfg.default_lists:
        domains |= read_resource("url_blocked_domains.txt")
        words |= read_resource("url_banned_words.txt")
        subwords |= read_resource("url_banned_subwords.txt")
        soft |= read_resource("url_soft_words.txt")
    if cfg.blocklist_path:
        more_domains, more_urls = read_ut1(cfg.blocklist_path, cfg.categories)
        domains |= more_domains
        urls |= more_urls
    return UrlLists(frozenset(d.lower().removeprefix("www.") for d in domains),
                    frozenset(normalize_url(u) for u in urls), frozenset(w.lower() for w in words),
                    frozenset(w.lower() for w in soft), _subword_pattern(subwords), cfg.soft_word_min_hits)


def normalize_url(url: str) -> str:
    """`https://www.Example.com/a/?q#f` -> `example.com/a/?q`: the form UT1 `urls` lists use."""
    url = url.strip().strip("<>")
    if "://" not in url:
        url = "http://" + url
    parts = urlsplit(url)
    host = (parts.hostname or "").removeprefix("www.")
    tail = parts.path.rstrip("/") + (f"?{parts.query}" if parts.query else "")
    return host + tail


def parent_domains(host: str) -> list[str]:
    """`a.b.example.com` -> [a.b.example.com, b.example.com, example.com] (never a bare TLD)."""
    labels = host.split(".")
    return [".".join(labels[i:]) for i in range(len(labels) - 1)] or [host]


def url_words(url: str) -> set[str]:
    """The URL's words: lowercased runs of letters and digits, after percent-decoding."""
    return set(_SEPARATORS.split(unquote(url).lower())) - {""}


def url_check(url: str, lists: UrlLists) -> Drop | None:
    """The verdict on one URL (None keeps it); the detail names what matched."""
    if not url:
        return None
    normalized = normalize_url(url)
    host = normalized.split("/", 1)[0].split("?", 1)[0]
    for domain in parent_domains(host):
        if domain in lists.domains:
            return Drop(DropReason.URL_BLOCKED_DOMAIN, f"domain {domain}")
    if normalized in lists.urls or normalized.split("?", 1)[0] in lists.urls:
        return Drop(DropReason.URL_BLOCKED_URL, f"url {normalized}")
    words = url_words(url)
    banned = sorted(words & lists.banned_words)
    if banned:
        return Drop(DropReason.URL_BANNED_WORD, f"word '{banned[0]}'")
    soft = sorted(words & lists.soft_words)
    if len(soft) >= lists.soft_word_min_hits:
        return Drop(DropReason.URL_SOFT_WORDS, f"soft words {', '.join(soft)}")
    if lists.subwords is not None:
        found = lists.subwords.search(_SEPARATORS.sub("", unquote(url).lower()))
        if found:
            return Drop(DropReason.URL_BANNED_WORD, f"subword '{found.group(0)}'")
    return None


class UrlFilterStep:
    """The url stage's step for one worker: the lists are read once, in the constructor."""

    def __init__(self, cfg: UrlFilterConfig):
        self.lists = load_url_lists(cfg)

    def __call__(self, doc: Document) -> Document | Drop:
        verdict = url_check(doc.url, self.lists)
        return doc if verdict is None else verdict


__all__ = ["UrlFilterConfig", "UrlFilterStep", "UrlLists", "load_url_lists", "normalize_url", "read_ut1",
           "url_check", "url_words"]
