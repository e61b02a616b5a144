"""Phone number shapes: which digit runs are phone numbers, and when phonenumbers vouches for one."""

import pytest

from tokenmill.transforms.pii_phone import CANDIDATE, classify, national_format_in, shape_of


def kind(text: str):
    m = CANDIDATE.fullmatch(text)
    assert m is not None, f"{text!r} is not a candidate at all"
    return classify(shape_of(m.group("number"), m.group("ext") or ""))


@pytest.mark.parametrize("text, expected", [
    ("+44 20 7946 0958", "strong"),          # country code
    ("(415) 555-0172", "strong"),            # parenthesised area code
    ("(88) 684-334", "strong"),
    ("415-555-0172", "strong"),              # North American 3-3-4
    ("1.415.555.0172", "strong"),
    ("001-748-088-2851x818", "strong"),      # international prefix, extension
    ("415-555-0172 ext. 12", "strong"),
    ("06 12 34 56 78", "strong"),            # four or more groups
    ("02.27.96.63.08", "strong"),
    ("020 7946 0958", "strong"),             # national trunk prefix 0
    ("0221/1234567", "strong"),
    ("+44 (0) 20 7946 0958", "strong"),      # trunk zero in parentheses after the country code
    ("+33 1 40 20 50 50", "strong"),         # one-digit area code after the country code
    ("785 8949", "weak"),                    # local number: needs a context word
    ("2813882583", "weak"),                  # bare digits: needs a context word
    ("74 831 591", "weak"),                  # grouped like an amount
    ("92 34 70", "weak"),                    # six digits in three groups
    ("12 345 678", "weak"),
    ("2024-05-12", None),                    # ISO date
    ("12/05/2024", None),                    # day/month/year
    ("1999-2004", None),                     # year range
    ("192.168.1.20", None),                  # IPv4, the IP recognizer's business
    ("3.14159265", None),                    # a decimal
    ("978-3-16-148410-0", None),             # ISBN
    ("536-22-1947", None),                   # US SSN grouping, the SSN recognizer's business
    ("12345", None),                         # too short
    ("1234 5678 9012 3456 7", None),         # too long for E.164 (15 digits)
])
def test_shapes(text, expected):
    assert kind(text) == expected


@pytest.mark.parametrize("text, found", [
    ("Call 415-555-0172 now", "415-555-0172"),
    ("tel:+1-415-555-0172.", "+1-415-555-0172"),
    ("serial AB1234567 here", None),          # glued to letters
    ("id 12-34567890-12-1 x", None),          # part of a longer code (single-digit group)
    ("at 1993-01-04 14:56:41", None),         # a timestamp, not a date followed by a number
])
def test_candidates_in_text(text, found):
    hits = [m.group(0) for m in CANDIDATE.finditer(text)
            if classify(shape_of(m.group("number"), m.group("ext") or ""))]
    assert hits == ([found] if found else [])


def test_national_format_vouches_only_for_numbers_grouped_as_their_country_writes_them():
    regions = ("US", "FR", "PL", "DE", "AT", "SE")
    assert national_format_in("91 234 56 78", regions)        # Polish grouping
    assert national_format_in("06 12 34 56 78", regions)      # French mobile
    assert national_format_in("030 1234567", regions)         # Berlin
    # Valid somewhere (German and Austrian plans accept almost any digits) but not written that way:
    assert not national_format_in("9493 7477", regions)
    assert not national_format_in("722 20 40", regions)
    assert not national_format_in("425700624", regions)       # one group: never vouched for
