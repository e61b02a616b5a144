"""Recognizer tables through the default offline analyzer: what is found, and what is left alone."""

import socket

import pytest

from tokenmill.transforms.pii_config import PIIConfig
from tokenmill.transforms.pii_engine import PiiAnalyzer, build_analyzer, configured_entities
from tokenmill.transforms.pii_recognizers import card_grouping_ok, is_public_ip, issuer_ok, luhn_ok


@pytest.fixture(scope="module")
def analyzer():
    cfg = PIIConfig()
    return PiiAnalyzer(build_analyzer(cfg), configured_entities(cfg))


def found(analyzer, text):
    return sorted((r.entity_type, text[r.start:r.end]) for r in analyzer.analyze_one(text))


@pytest.mark.parametrize("text, expected", [
    # emails: a public suffix is required (bundled list, no network)
    ("Write to zelda.quark7@protonmail.com today.", [("EMAIL_ADDRESS", "zelda.quark7@protonmail.com")]),
    ("The build runs as root@localhost here.", []),
    # IPs: only public addresses are personal (FineWeb keeps private and reserved ranges)
    ("Blocked from 141.52.3.19 again", [("IP_ADDRESS", "141.52.3.19")]),
    ("Router at 192.168.1.20 and 10.0.0.1", []),
    ("Docs use 192.0.2.10 and 2001:db8::10", []),
    ("Server 2a00:1450:4001:82a::200e is up", [("IP_ADDRESS", "2a00:1450:4001:82a::200e")]),
    # cards: Luhn, issuer prefix and length, printed grouping
    ("Card 4539 1488 0343 6467 expires", [("CREDIT_CARD", "4539 1488 0343 6467")]),
    ("Card 5425233430109903 on file", [("CREDIT_CARD", "5425233430109903")]),
    ("Amex 3782 822463 10005 ok", [("CREDIT_CARD", "3782 822463 10005")]),
    ("Order 4539 1488 0343 6468 shipped", []),                       # Luhn digit wrong
    ("Tracking 9400 1000 0000 0000 0000", []),                       # no card network starts with 94
    ("Maestro 6761 1234 5670", [("CREDIT_CARD", "6761 1234 5670")]),  # 12 digits: Maestro only
    ("Ref 1234 5678 9012 8 paid", []),                               # Luhn-valid, unknown issuer, no context
    ("card 1234 5678 9012 8", [("CREDIT_CARD", "1234 5678 9012 8")]),  # ... with a context word
    # IBAN: checksum and per-country format, any case
    ("Pay to GB29NWBK60161331926819 please", [("IBAN_CODE", "GB29NWBK60161331926819")]),
    ("iban fr1420041010050500013m02606", [("IBAN_CODE", "fr1420041010050500013m02606")]),
    ("Pay to GB29NWBK60161331926818 please", []),                     # checksum wrong
    ("my iban is gb29nwbk60161331926819 ok", [("IBAN_CODE", "gb29nwbk60161331926819")]),
    ("IBAN GB58ZLLL217335363113 sent", [("IBAN_CODE", "GB58ZLLL217335363113")]),  # check digits hold, GB length not
    # US SSN
    ("His SSN is 536-22-1947.", [("US_SSN", "536-22-1947")]),
    ("Placeholder 123-45-6789 is not a person", []),
    # phones: shapes that are phones, and weak shapes only with context
    ("Call (415) 555-0172 or +44 20 7946 0958.",
     [("PHONE_NUMBER", "(415) 555-0172"), ("PHONE_NUMBER", "+44 20 7946 0958")]),
    ("Phone: 785 8949", [("PHONE_NUMBER", "785 8949")]),              # context word before
    ("785 8949 (mobile)", [("PHONE_NUMBER", "785 8949")]),            # label after, same line
    ("In 2019 we sold 785 8949 units", []),                           # weak shape, no context
    ("My number is 425700624", [("PHONE_NUMBER", "425700624")]),      # "number" is context (Presidio's too)
    ("Licence 425700624 renewed in 2019", []),
    ("Published 2024-05-12, pages 1999-2004", []),
    # crypto wallets
    ("BTC to 1BoatSLRHtKNngkdXEeobR76b53LETtpyT thanks", [("CRYPTO", "1BoatSLRHtKNngkdXEeobR76b53LETtpyT")]),
    ("ETH 0x52908400098527886E0F7030069857D2E4169EE7 sent",
     [("CRYPTO", "0x52908400098527886E0F7030069857D2E4169EE7")]),
])
def test_recognizer_table(analyzer, text, expected):
    assert found(analyzer, text) == expected


def test_checksum_helpers():
    assert luhn_ok("4539148803436467") and not luhn_ok("4539148803436468")
    assert issuer_ok("4539148803436467") and not issuer_ok("9400100000000000000")
    assert issuer_ok("378282246310005") and not issuer_ok("3782822463100050")   # Amex is 15 digits
    assert card_grouping_ok("4539 1488 0343 6467") and card_grouping_ok("3782-822463-10005")
    assert not card_grouping_ok("45 3914 8803 4364 67") and not card_grouping_ok("4539-1488 0343 6467")
    assert is_public_ip("141.52.3.19") and is_public_ip("141.52.3.0/24")
    assert not any(is_public_ip(ip) for ip in ("10.1.2.3", "127.0.0.1", "169.254.1.1", "224.0.0.1",
                                               "100.64.0.1", "fe80::1", "::1", "not an ip"))


def test_analysis_never_touches_the_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the PII analyzer tried to open a network connection")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    cfg = PIIConfig()
    offline = PiiAnalyzer(build_analyzer(cfg), configured_entities(cfg))
    assert found(offline, "mail ada@lovelace.co.uk") == [("EMAIL_ADDRESS", "ada@lovelace.co.uk")]


def test_spaced_iban_is_found_whole(analyzer):
    # Its digit tail also looks like a phone number (four groups); the anonymizer keeps the
    # enclosing IBAN finding when two findings overlap (see test_pii.py).
    assert ("IBAN_CODE", "GB29 NWBK 6016 1331 9268 19") in found(analyzer, "Pay to GB29 NWBK 6016 1331 9268 19 please")
