"""URL filter: one kept and one dropped URL per rule, with the shipped lists and UT1-format files."""

from __future__ import annotations

import io
import tarfile

import pytest

from tokenmill.transforms.document import Document, Drop, DropReason
from tokenmill.transforms.url_filter import (UrlFilterConfig, UrlFilterStep, load_url_lists, normalize_url,
                                             read_ut1, url_check, url_words)

LISTS = load_url_lists(UrlFilterConfig(extra_urls=("example.org/bad/page.html",)))


@pytest.mark.parametrize("url, expected", [
    # blocked domain (shipped list), subdomains included
    ("https://www.pornhub.com/view_video.php?v=1", DropReason.URL_BLOCKED_DOMAIN),
    ("https://fr.xvideos.com/", DropReason.URL_BLOCKED_DOMAIN),
    ("https://www.python.org/downloads/", None),
    # blocked URL: scheme, www. and a trailing slash do not matter; a sibling page is kept
    ("http://www.example.org/bad/page.html/", DropReason.URL_BLOCKED_URL),
    ("https://example.org/bad/other.html", None),
    # banned word: whole words only
    ("https://example.com/free-porn-videos", DropReason.URL_BANNED_WORD),
    ("https://example.com/blog/XXX/index.html", DropReason.URL_BANNED_WORD),
    ("https://example.com/history-of-pornography-law", None),
    # soft words: two distinct ones drop, one alone does not
    ("https://example.com/sexy-lingerie-shop", DropReason.URL_SOFT_WORDS),
    ("https://example.com/sexual-health/clinic", None),
    ("https://example.com/escort-carrier-ships", None),
    # banned subword: glued into a domain; `essex`-like words are safe
    ("https://bigtitsblog.example.net/", DropReason.URL_BANNED_WORD),
    ("https://www.essexcameraclub.org.uk/", None),
    ("https://www.mdx.ac.uk/courses/middlesex-sussex-wessex", None),
    # percent-encoded separators still separate words
    ("https://example.com/search?q=free%20porn", DropReason.URL_BANNED_WORD),
    # no URL (JSONL/Parquet input) passes
    ("", None),
])
def test_url_rules(url, expected):
    verdict = url_check(url, LISTS)
    assert (verdict.reason if verdict else None) is expected


def test_the_detail_names_what_matched():
    assert url_check("https://a.b.xhamster.com/x", LISTS).detail == "domain xhamster.com"
    assert url_check("https://x.com/hot-sexy-nude-pics", LISTS).detail == "soft words nude, sexy"


def test_soft_word_threshold_is_configurable():
    lists = load_url_lists(UrlFilterConfig(soft_word_min_hits=3))
    assert url_check("https://example.com/sexy-lingerie-shop", lists) is None
    assert url_check("https://example.com/sexy-nude-lingerie", lists).reason is DropReason.URL_SOFT_WORDS


def test_without_default_lists_only_the_extras_apply():
    lists = load_url_lists(UrlFilterConfig(default_lists=False, banned_words=("casino",)))
    assert url_check("https://pornhub.com/", lists) is None
    assert url_check("https://example.com/online-casino", lists).reason is DropReason.URL_BANNED_WORD


def test_helpers():
    assert normalize_url("https://www.Example.com/a/?q=1#frag") == "example.com/a?q=1"
    assert normalize_url("<http://example.com/>") == "example.com"   # dolma's <...> wrapped URIs
    assert url_words("https://a.b/C_d-e%2Ff?x=Gh") == {"https", "a", "b", "c", "d", "e", "f", "x", "gh"}


def _write_ut1(root):
    (root / "adult").mkdir()
    (root / "adult" / "domains").write_text("# UT1 adult\nbad-domain.example\n\nalso-bad.test\n")
    (root / "adult" / "urls").write_text("good-host.example/private/gallery\n")
    (root / "gambling").mkdir()
    (root / "gambling" / "domains").write_text("casino.example\n")


def test_ut1_directory(tmp_path):
    _write_ut1(tmp_path)
    domains, urls = read_ut1(tmp_path, ["adult"])
    assert domains == {"bad-domain.example", "also-bad.test"} and urls == {"good-host.example/private/gallery"}
    lists = load_url_lists(UrlFilterConfig(default_lists=False, blocklist_path=str(tmp_path),
                                           categories=("adult", "gambling")))
    assert url_check("http://cdn.bad-domain.example/x", lists).reason is DropReason.URL_BLOCKED_DOMAIN
    assert url_check("http://casino.example/", lists).reason is DropReason.URL_BLOCKED_DOMAIN
    assert url_check("https://good-host.example/private/gallery/", lists).reason is DropReason.URL_BLOCKED_URL
    assert url_check("https://good-host.example/public/", lists) is None


def test_ut1_tarball_and_plain_file(tmp_path):
    data = b"tar-domain.example\n"
    tar_path = tmp_path / "blacklists.tar.gz"
    with tarfile.open(tar_path, "w:gz") as tar:
        for name in ("blacklists/adult/domains", "blacklists/gambling/domains"):
            info = tarfile.TarInfo(name)
            info.size = len(data if "adult" in name else b"casino.example\n")
            tar.addfile(info, io.BytesIO(data if "adult" in name else b"casino.example\n"))
    assert read_ut1(tar_path, ["adult"]) == ({"tar-domain.example"}, set())
    plain = tmp_path / "domains.txt"
    plain.write_text("one.example\nTWO.example\n")
    assert read_ut1(plain, ["adult"]) == ({"one.example", "two.example"}, set())


def test_a_missing_blocklist_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="url.blocklist_path"):
        read_ut1(tmp_path / "missing", ["adult"])
    with pytest.raises(FileNotFoundError, match="no domains/urls"):
        read_ut1(tmp_path, ["adult"])


def test_step_keeps_or_drops_documents():
    step = UrlFilterStep(UrlFilterConfig())
    kept = Document(id="1", url="https://en.wikipedia.org/wiki/Language")
    assert step(kept) is kept
    dropped = step(Document(id="2", url="https://www.xnxx.com/"))
    assert isinstance(dropped, Drop) and dropped.reason is DropReason.URL_BLOCKED_DOMAIN
