"""The Presidio recognizers tokenmill scrubs with by default, all offline and pattern based.

Stock Presidio gets most of the way, with three problems for a web pipeline:
- `EmailRecognizer` validates domains with `tldextract.extract`, whose default extractor fetches
  the public suffix list from GitHub on first use (a network call, then a timeout offline);
  here it uses the suffix list snapshot bundled with tldextract.
- `IpRecognizer` keeps every address; only public ones point at a person. Private, loopback,
  link-local, reserved, documentation and multicast ranges are kept in the text, as FineWeb does
  (datatrove's `public_ip_validator`: `ipaddress.ip_address(ip).is_global`).
- `CreditCardRecognizer` knows 13-17 digit cards in 4-digit groups only; this one takes 13-19
  digits in the groupings issuers print (4-4-4-4[-3], Amex 4-6-5, Diners 4-6-4), checks the Luhn
  digit and the issuer's prefix and length (ISO/IEC 7812 ranges as published by the networks).
Phone numbers come from `pii_phone.ShapePhoneRecognizer`. IBAN (mod-97 and per-country format),
US SSN and Bitcoin (base58check/bech32) are Presidio's own; Ethereum addresses are added to CRYPTO.

NER entities (PERSON, LOCATION, ...) come from Presidio's `SpacyRecognizer` over whatever spaCy
pipeline `pii_engine` loads; there is none by default.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import re
from typing import Optional


from presidio_analyzer import EntityRecognizer, Pattern, PatternRecognizer
from presidio_analyzer.predefined_recognizers import (CryptoRecognizer, EmailRecognizer, IbanRecognizer,
                                                      IpRecognizer, SpacyRecognizer, UsSsnRecognizer)

from tokenmill.transforms.pii_config import DEFAULT_REGIONS
from tokenmill.transforms.pii_phone import ShapePhoneRecognizer



@functools.lru_cache(maxsize=1)
def _offline_tld_extractor():
    import tldextract
    # suffix_list_urls=() means: use the snapshot shipped inside the package, never the network.
    return tldextract.TLDExtract(cache_dir=None, suffix_list_urls=())


class OfflineEmailRecognizer(EmailRecognizer):
    """Presidio's email pattern; the domain must end in a public suffix (bundled list)."""

    def validate_result(self, pattern_text: str) -> bool:
        return _offline_tld_extractor()(pattern_text).fqdn != ""


def is_public_ip(text: str) -> bool:
    """True for a globally routable unicast address (also with a /prefix): the personal ones."""
    try:
        address = ipaddress.ip_interface(text).ip
    except ValueError:
        return False
    return address.is_global and not address.is_multicast


class PublicIpRecognizer(IpRecognizer):
    """Presidio's IPv4/IPv6 patterns; with `public_only`, private and reserved ranges stay."""

    def __init__(self, public_only: bool = True, **kwargs):
        self.public_only = public_only
        super().__init__(**kwargs)

    def invalidate_result(self, pattern_text: str) -> bool:
        if super().invalidate_result(pattern_text):
            return True
        return self.public_only and not is_public_ip(pattern_text)


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def issuer_ok(digits: str) -> bool:
    """The number's prefix belongs to a card network that issues cards of this length."""
    n = len(digits)
    p2, p3, p4 = int(digits[:2]), int(digits[:3]), int(digits[:4])
    if digits[0] == "4":
        return n in (13, 16, 19)                                  # Visa
    if 51 <= p2 <= 55 or 2221 <= p4 <= 2720:
        return n == 16                                            # Mastercard
    if p2 in (34, 37):
        return n == 15                                            # American Express
    if p4 in (2131, 1800):
        return n == 15                                            # JCB, 15-digit ranges
    if 300 <= p3 <= 305 or p2 in (36, 38, 39):
        return 14 <= n <= 19                                      # Diners Club
    if p2 == 35 or p4 == 6011 or 644 <= p3 <= 649 or p2 in (62, 65, 81) or 2200 <= p4 <= 2204:
        return 16 <= n <= 19                                      # JCB, Discover, UnionPay, Mir
    if p2 == 50 or 56 <= p2 <= 69:
        return 12 <= n <= 19                                      # Maestro
    return False


def card_grouping_ok(text: str) -> bool:
    """No separators, or one kind of separator between the groups issuers print."""
    seps = {c for c in text if not c.isdigit()}
    if not seps:
        return True
    if len(seps) > 1:
        return False
    groups = [len(g) for g in text.split(seps.pop())]
    if groups in ([4, 6, 5], [4, 6, 4]):
        return True
    return len(groups) >= 3 and all(g == 4 for g in groups[:-1]) and 1 <= groups[-1] <= 4


class CardRecognizer(PatternRecognizer):
    """CREDIT_CARD: 12-19 digits in printed groupings, Luhn-valid.

    With a known issuer prefix and length the finding scores 1.0 (Presidio's score for a
    validated pattern). A Luhn-valid number of a payment-card industry (first digit 1-6, ISO/IEC
    7812) outside the known ranges keeps the pattern's 0.3: it needs a context word ("card").
    """

    PATTERNS = [Pattern("card (Luhn)", r"(?<![\w.-])\d{4}(?:[ -]?\d){8,15}(?!\w|[.-]\d)", 0.3)]
    CONTEXT = ["credit", "card", "visa", "mastercard", "cc", "amex", "discover", "jcb", "diners", "maestro",
               "debit", "payment"]

    def __init__(self, supported_language: str = "en"):
        super().__init__(supported_entity="CREDIT_CARD", patterns=self.PATTERNS, context=self.CONTEXT,
                         supported_language=supported_language, name="CardRecognizer")

    def validate_result(self, pattern_text: str) -> Optional[bool]:
        digits = "".join(c for c in pattern_text if c.isdigit())
        if not (card_grouping_ok(pattern_text) and luhn_ok(digits) and digits[0] in "123456"):
            return False
        return True if issuer_ok(digits) else None


_STOCK_IBAN = IbanRecognizer.PATTERNS[0].regex


def iban_checksum_ok(text: str) -> bool:
    """ISO 13616 check digits: the rearranged IBAN, letters as numbers, is 1 modulo 97."""
    code = re.sub(r"[ -]", "", text).upper()
    if not re.fullmatch(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}", code):
        return False
    return int("".join(str(int(c, 36)) for c in code[4:] + code[:4])) % 97 == 1


class ChecksumIbanRecognizer(IbanRecognizer):
    """Presidio's IBAN recognizer that also keeps IBANs whose check digits hold but whose country
    format it does not know or doubts (score 0.5 instead of 1.0): the check digits are what make
    an IBAN, and country tables lag behind new formats."""

    def validate_result(self, pattern_text: str) -> Optional[bool]:
        verdict = super().validate_result(pattern_text)
        if verdict is False and iban_checksum_ok(pattern_text):
            return None
        return verdict


class LowercaseIbanRecognizer(ChecksumIbanRecognizer):
    """IBANs typed in lower case. Presidio's pattern is upper case only and cannot simply ignore
    case: its 4-character groups would run on into the next word ("... 6134 today")."""

    PATTERNS = [Pattern("IBAN lower case", _STOCK_IBAN.replace("A-Z", "a-z"), 0.5)]
    PREFILTER = r"[a-z]{2}[0-9]{2}"

    def __init__(self, supported_language: str = "en"):
        super().__init__(patterns=self.PATTERNS, supported_language=supported_language,
                         name="LowercaseIbanRecognizer")


def ethereum_recognizer(supported_language: str = "en") -> PatternRecognizer:
    """CRYPTO: Ethereum addresses (0x and 40 hex digits; the EIP-55 checksum needs Keccak, not in hashlib)."""
    return PatternRecognizer(supported_entity="CRYPTO", name="EthereumRecognizer",
                             patterns=[Pattern("Ethereum address", r"\b0x[0-9a-f]{40}\b", 0.5)],
                             context=["wallet", "eth", "ethereum", "address", "crypto"],
                             supported_language=supported_language)


PREFILTERS: dict[str, tuple[str, str]] = {
    # Presidio class -> (fingerprint of the patterns the prefilter was derived from, prefilter).
    # Every match of every pattern contains a prefilter match on the same line: the IP patterns'
    # alternatives all contain `::`, six colon-separated hex groups (so `:h:h:h:h:`) or a dotted
    # quad (so `.ddd.d`); each prefilter starts with a literal, which `re` scans for quickly;
    # the SSN patterns (ddddd-dddd, ddd-dddddd, ddd-dd-dddd, ddddddddd, ddd?dd?dddd) `ddd?dd?dddd`.
    "EmailRecognizer": ("004723abbb67ff6c", r"@"),
    "OfflineEmailRecognizer": ("004723abbb67ff6c", r"@"),
    "IpRecognizer": ("2e5b4e8ccce1e531", r"::|:[0-9a-fA-F]{1,4}:[0-9a-fA-F]{1,4}:[0-9a-fA-F]{1,4}:[0-9a-fA-F]{1,4}:|\.[0-9]{1,3}\.[0-9]"),
    "PublicIpRecognizer": ("2e5b4e8ccce1e531", r"::|:[0-9a-fA-F]{1,4}:[0-9a-fA-F]{1,4}:[0-9a-fA-F]{1,4}:[0-9a-fA-F]{1,4}:|\.[0-9]{1,3}\.[0-9]"),
    "IbanRecognizer": ("1f98697e78e08d67", r"[A-Z]{2}[0-9]{2}"),
    "ChecksumIbanRecognizer": ("1f98697e78e08d67", r"[A-Z]{2}[0-9]{2}"),
    "UsSsnRecognizer": ("99e2c61f6a973b04", r"[0-9]{3}[- .]?[0-9]{2}[- .]?[0-9]{4}"),
}
"""Cheap necessary conditions for Presidio's slowest patterns, so the pre-check runs those patterns
only on lines that can match. A Presidio release with other patterns changes the fingerprint and
the prefilter is simply not used (`prefilter_for` returns None)."""


def prefilter_for(recognizer: PatternRecognizer) -> "re.Pattern | None":
    own = getattr(type(recognizer), "PREFILTER", None)
    if own is not None:
        return re.compile(own)
    known = PREFILTERS.get(type(recognizer).__name__)
    if known is None:
        return None
    fingerprint = hashlib.sha256("\n".join(p.regex for p in recognizer.patterns).encode()).hexdigest()[:16]
    return re.compile(known[1]) if fingerprint == known[0] else None


def pattern_recognizers(entities: tuple[str, ...], phone_regions: tuple[str, ...] = DEFAULT_REGIONS,
                        public_ips_only: bool = True, language: str = "en") -> list[EntityRecognizer]:
    """The recognizers for the configured pattern entities (a subset of PATTERN_ENTITIES)."""
    makers = {
        "EMAIL_ADDRESS": lambda: [OfflineEmailRecognizer(supported_language=language)],
        "PHONE_NUMBER": lambda: [ShapePhoneRecognizer(tuple(phone_regions), supported_language=language)],
        "IP_ADDRESS": lambda: [PublicIpRecognizer(public_only=public_ips_only, supported_language=language)],
        "CREDIT_CARD": lambda: [CardRecognizer(supported_language=language)],
        "IBAN_CODE": lambda: [ChecksumIbanRecognizer(supported_language=language),
                              LowercaseIbanRecognizer(supported_language=language)],
        "US_SSN": lambda: [UsSsnRecognizer(supported_language=language)],
        "CRYPTO": lambda: [CryptoRecognizer(supported_language=language), ethereum_recognizer(language)],
    }
    return [r for entity in entities if entity in makers for r in makers[entity]()]


def ner_recognizer(entities: tuple[str, ...], language: str = "en") -> Optional[EntityRecognizer]:
    """Presidio's recognizer over the spaCy pipeline's entities (after the label mapping)."""
    if not entities:
        return None
    return SpacyRecognizer(supported_language=language, supported_entities=list(entities))
