"""Text normalisation, shingles, dedup keys and the survivor order shared by exact and near dedup.

Two copies of a page often differ only in case, punctuation, spacing or a number (a date, a
view count), so both dedup stages compare a normalised form: lowercase, every run of digits
folded to `0`, everything that is not a letter, digit or combining mark treated as a separator
(FineWeb's and datatrove's `simplify_text` fold the same things). Near dedup then compares word
n-gram shingles of that form (Broder 1997; FineWeb uses word 5-grams).

Survivors are chosen by a total order on documents that does not depend on arrival order, worker
count or bundle boundaries: an optional priority (e.g. longest text first), then a stable 64-bit
hash of the id, then the id itself. The order is encoded as a fixed-width string (`survivor_rank`)
so that it can travel as a Beam key and compare with `<`.
"""

from __future__ import annotations

import re
from typing import Iterator, Literal
from urllib.parse import urlsplit, urlunsplit

import regex
import xxhash

from tokenmill.transforms.document import Document, stable_hash

_DIGITS = re.compile(r"\d+")
# A word: letters, digits and combining marks (so Devanagari vowel signs stay inside their word).
_WORD = regex.compile(r"[\p{L}\p{N}\p{M}]+")

Priority = Literal["id_hash", "longest"]
RANK_PREFIX = 32
"""Characters of a rank before the id: 16 hex digits of priority, 16 of the id hash."""
_MAX_PRIORITY = (1 << 64) - 1


def words(text: str) -> list[str]:
    """The normalised words of `text`: lowercase, digit runs as `0`, punctuation and spaces dropped.
    The definition; `word_bytes` is the fast path used by the stages."""
    return _WORD.findall(_DIGITS.sub("0", text.lower()))


def _ascii_fold_table() -> bytes:
    # ASCII letters lowercased, digits to '0', every other ASCII byte a separator; bytes >= 0x80
    # (parts of UTF-8 sequences) unchanged.
    table = bytearray(range(256))
    for i in range(128):
        c = chr(i)
        table[i] = ord("0") if c.isdigit() else ord(c.lower()) if c.isalpha() else ord(" ")
    return bytes(table)


_ASCII_FOLD = _ascii_fold_table()
_ZEROS = re.compile(rb"0{2,}")


def word_bytes(text: str) -> list[bytes]:
    """`[w.encode("utf-8") for w in words(text)]`, about twice as fast on mostly-ASCII text.

    ASCII separators split the UTF-8 bytes with one `bytes.translate`; only pieces that contain
    non-ASCII characters (curly quotes, accents) go through the Unicode rules of `words`. Mostly
    non-ASCII text (Cyrillic, CJK, ...) takes `words` directly. The two agree on every input
    because a non-ASCII piece is bounded by ASCII separators, which `words` splits on too.
    """
    raw = text.encode("utf-8")
    if len(raw) - len(text) > len(text) // 4:
        return [w.encode("utf-8") for w in words(text)]
    out: list[bytes] = []
    for piece in raw.translate(_ASCII_FOLD).split():
        if piece.isascii():
            out.append(_ZEROS.sub(b"0", piece) if b"00" in piece else piece)
        else:
            out.extend(w.encode("utf-8") for w in words(piece.decode("utf-8")))
    return out


def normalized_text(text: str) -> str:
    return " ".join(words(text))


def exact_key(text: str) -> str:
    """128-bit hash (hex) of the normalised text. Texts with no words at all (only punctuation,
    symbols or whitespace) are keyed by their stripped raw text, so they are not all one group."""
    norm = b" ".join(word_bytes(text))
    payload = b"n:" + norm if norm else b"r:" + text.strip().encode("utf-8")
    return xxhash.xxh3_128_hexdigest(payload)


def url_key(url: str) -> str:
    """A URL compared for exact dedup: scheme and host lowercased, fragment and a bare `/` path dropped.
    Empty for documents without a URL (they are never URL duplicates)."""
    url = url.strip()
    if not url:
        return ""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    path = "" if parts.path == "/" else parts.path
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, parts.query, ""))


def shingles(tokens: list[str] | list[bytes], n: int) -> Iterator[str] | Iterator[bytes]:
    """Word n-grams joined by a space (str or bytes, like the tokens); a text shorter than n words
    is one shingle (as in datatrove), an empty text has none."""
    if not tokens:
        return iter(())
    join = (b" " if isinstance(tokens[0], bytes) else " ").join
    if len(tokens) < n:
        return iter((join(tokens),))
    return map(join, zip(*(tokens[i:] for i in range(n))))


def survivor_rank(doc: Document, priority: Priority = "id_hash") -> str:
    """The document's place in the survivor order: the smallest rank of a group survives.

    Fixed-width hex fields, so string order is the order of (priority, id hash, id). `longest`
    prefers the longest text (more of the page kept); ties and `id_hash` fall back to the hash.
    """
    prio = 0 if priority == "id_hash" else _MAX_PRIORITY - min(len(doc.text), _MAX_PRIORITY)
    return f"{prio:016x}{stable_hash(doc.id):016x}{doc.id}"


def rank_id(rank: str) -> str:
    """The document id inside a rank built by `survivor_rank`."""
    return rank[RANK_PREFIX:]


def tie_break(doc: Document) -> tuple[str, int, str]:
    """Orders two documents with the same id (inputs may repeat ids): by source, offset, text hash."""
    return doc.source, doc.offset, xxhash.xxh3_64_hexdigest(doc.text.encode("utf-8"))
