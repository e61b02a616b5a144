"""The PII step: operators, counts, the too_much_pii drop, URL scrubbing, the ledger's scrubber."""

import re

import pytest

from tokenmill.pipelines.config import load_config
from tokenmill.transforms.document import Document, Drop, DropReason
from tokenmill.transforms.pii import PiiStep, Scrubber, Surrogate, make_scrubber
from tokenmill.transforms.pii_config import PIIConfig
from tokenmill.transforms.pii_recognizers import is_public_ip
from tokenmill.transforms.typed_config import ConfigError

TEXT = ("Write to zelda.quark7@protonmail.com or call (415) 555-0172.\n"
        "Server 141.52.3.19 and router 192.168.1.20. Card 4539 1488 0343 6467.")


@pytest.fixture(scope="module")
def tag_step():
    return PiiStep(PIIConfig())


def test_tags_and_counts(tag_step):
    doc, = tag_step([Document(id="a", url="https://example.org/?contact=zelda.quark7@protonmail.com", text=TEXT)])
    assert doc.text == ("Write to <EMAIL_ADDRESS> or call <PHONE_NUMBER>.\n"
                        "Server <IP_ADDRESS> and router 192.168.1.20. Card <CREDIT_CARD>.")
    assert doc.pii_counts == {"CREDIT_CARD": 1, "EMAIL_ADDRESS": 1, "IP_ADDRESS": 1, "PHONE_NUMBER": 1}
    assert doc.signals["pii_findings"] == 4.0
    # Presidio's email pattern allows / ? = in the local part (RFC 5322), so it takes the URL's path too.
    assert doc.url == "https://<EMAIL_ADDRESS>"


def test_clean_documents_pass_unchanged(tag_step):
    clean = Document(id="b", url="https://example.org/a", text="Nothing personal, 2024-05-12.")
    out, = tag_step([clean])
    assert (out.text, out.url, out.pii_counts) == (clean.text, clean.url, {})


def test_overlapping_findings_keep_the_enclosing_one(tag_step):
    doc, = tag_step([Document(id="c", text="IBAN GB29 NWBK 6016 1331 9268 19 thanks")])
    assert doc.text == "IBAN <IBAN_CODE> thanks" and doc.pii_counts == {"IBAN_CODE": 1}


def test_drop_above_max_findings():
    step = PiiStep(PIIConfig(max_findings=3))
    out = step([Document(id="d", text=TEXT), Document(id="e", text="only zelda@protonmail.com")])
    assert isinstance(out[0], Drop) and out[0].reason is DropReason.TOO_MUCH_PII
    assert out[0].detail == "4 findings > max_findings 3"
    assert "<EMAIL_ADDRESS>" in out[0].annotated.text and "zelda" not in out[0].annotated.text
    assert isinstance(out[1], Document) and out[1].pii_counts == {"EMAIL_ADDRESS": 1}


def test_surrogates_are_natural_stable_and_not_personal():
    step = PiiStep(PIIConfig(operator="surrogate"))
    a, b = step([Document(id="f", text=TEXT), Document(id="g", text=TEXT)])
    assert a.text == b.text                                   # same value, same stand-in
    assert "zelda" not in a.text and "141.52.3.19" not in a.text and "4539" not in a.text
    ip = re.search(r"Server (\S+) and", a.text).group(1)
    assert not is_public_ip(ip)                               # documentation range
    assert re.search(r"@example\.(com|org)", a.text)
    assert Surrogate("IP_ADDRESS")("2a00:1450:4001:82a::200e").startswith("2001:db8:")


def test_mask_and_keyed_hash(monkeypatch):
    masked, = PiiStep(PIIConfig(operators={"EMAIL_ADDRESS": "mask"}))([Document(id="h", text="to ab@protonmail.com!")])
    assert masked.text == "to " + "*" * len("ab@protonmail.com") + "!"
    monkeypatch.setenv("TOKENMILL_PII_KEY", "k1")
    one = Scrubber(PIIConfig(operator="hash"))("to ab@protonmail.com!")
    assert re.fullmatch(r"to <EMAIL_ADDRESS:[0-9a-f]{16}>!", one)
    monkeypatch.setenv("TOKENMILL_PII_KEY", "k2")
    assert Scrubber(PIIConfig(operator="hash"))("to ab@protonmail.com!") != one      # keyed


def test_config_errors_name_the_key(monkeypatch):
    monkeypatch.delenv("TOKENMILL_PII_KEY", raising=False)
    with pytest.raises(ConfigError, match="pii.*TOKENMILL_PII_KEY"):
        load_config("tiny", ["pii.operator=hash"])
    with pytest.raises(ConfigError, match="pii.*unknown 'PASSPORT'"):
        load_config("tiny", ["pii.entities=[EMAIL_ADDRESS, PASSPORT]"])
    with pytest.raises(ConfigError, match="pii.*'CREDIT_CARD' is not a configured entity"):
        load_config("tiny", ["pii.entities=[EMAIL_ADDRESS]", "pii.operators={CREDIT_CARD: mask}"])
    with pytest.raises(ConfigError, match="pii.operator"):
        load_config("tiny", ["pii.operator=redact"])
    assert load_config("tiny").filters.order[-1] == "pii" and load_config("default").filters.order[-1] == "pii"


def test_ledger_scrubber():
    scrub = make_scrubber(PIIConfig())
    assert scrub("sample from zelda@protonmail.com") == "sample from <EMAIL_ADDRESS>"
    assert scrub("") == ""
    assert make_scrubber(PIIConfig(enabled=False))("zelda@protonmail.com") == "zelda@protonmail.com"


def test_overlapping_findings_merge_into_their_union():
    from presidio_analyzer import RecognizerResult

    from tokenmill.transforms.pii import merge_overlaps
    merged = merge_overlaps([RecognizerResult("PHONE_NUMBER", 8, 20, 0.5), RecognizerResult("IBAN_CODE", 0, 12, 1.0),
                             RecognizerResult("EMAIL_ADDRESS", 30, 40, 1.0), RecognizerResult("US_SSN", 20, 25, 0.5)])
    assert [(r.entity_type, r.start, r.end) for r in merged] == [
        ("IBAN_CODE", 0, 20), ("US_SSN", 20, 25), ("EMAIL_ADDRESS", 30, 40)]
