"""Config machinery: every mistake names its dotted path."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pytest

from tokenmill.transforms.typed_config import (ConfigError, apply_override, build, field_docs, load_yaml,
                                               to_dict)


@dataclass(frozen=True)
class Inner:
    enabled: bool = True
    """Switch."""
    threshold: float = 0.5
    """A share, 0..1."""
    langs: tuple[str, ...] = ()
    mode: Literal["a", "b"] = "a"
    per: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Outer:
    inner: Inner = field(default_factory=Inner)
    count: int = 3


def test_defaults_and_overrides_build_typed_values():
    data = apply_override(apply_override({}, "inner.threshold=1"), "inner.langs=[en, de]")
    cfg = build(Outer, data)
    assert cfg.inner.threshold == 1.0 and isinstance(cfg.inner.threshold, float)
    assert cfg.inner.langs == ("en", "de")
    assert cfg.count == 3
    assert build(Outer, to_dict(cfg)) == cfg


@pytest.mark.parametrize("data, message", [
    ({"inner": {"treshold": 0.1}}, "unknown config key 'inner.treshold'"),
    ({"inner": {"threshold": "high"}}, "inner.threshold: expected float, got str 'high'"),
    ({"count": True}, "count: expected int, got bool True"),
    ({"inner": {"mode": "c"}}, "inner.mode: must be one of 'a', 'b', got 'c'"),
    ({"inner": {"per": {"en": "x"}}}, "inner.per.en: expected float"),
    ({"inner": 5}, "inner: expected a section"),
])
def test_mistakes_name_the_dotted_path(data, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("[", r"\[")):
        build(Outer, data)


def test_duplicate_yaml_key_is_an_error():
    with pytest.raises(ConfigError, match="duplicate key 'threshold' at line 3"):
        load_yaml("inner:\n  threshold: 0.1\n  threshold: 0.2\n", name="x.yaml")


def test_override_needs_key_and_value():
    with pytest.raises(ConfigError, match="--set expects key=value"):
        apply_override({}, "inner.threshold")


def test_field_docs_reads_attribute_docstrings():
    assert field_docs(Inner) == {"enabled": "Switch.", "threshold": "A share, 0..1."}
