"""Typed configuration: YAML presets and `--set a.b=c` overrides into frozen dataclasses.

Each component owns a frozen dataclass next to its code; this module only turns plain data
into those dataclasses and back. Every mistake is a `ConfigError` naming the dotted path of the
offending key (an unknown key, a wrong type, a duplicate key in a YAML file), so the command line
can print one clear line instead of a traceback. No Beam, no torch: the trainer uses it too.
"""

from __future__ import annotations

import ast
import dataclasses
import enum
import inspect
import types
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

import yaml


class ConfigError(ValueError):
    """A configuration mistake; its message names the dotted path of the key."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """A SafeLoader that refuses duplicate keys (PyYAML silently keeps the last one)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                mark = key_node.start_mark
                raise ConfigError(f"duplicate key '{key}' at line {mark.line + 1} of {mark.name}")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str, name: str = "<config>") -> dict:
    """Parses YAML text into a mapping, refusing duplicate keys."""
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader) if text.strip() else {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{name}: not valid YAML ({str(err).splitlines()[0]})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{name}: the top level must be a mapping, got {type(data).__name__}")
    return data


def load_yaml_file(path: str | Path) -> dict:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a YAML file (not UTF-8 text)") from None
    except OSError as err:   # a directory, no permission
        raise ConfigError(f"{path}: cannot read it ({err.strerror or err})") from None
    return load_yaml(text, name=str(path))


def apply_override(data: dict, assignment: str) -> dict:
    """Returns a copy of `data` with one `a.b.c=value` applied; the value is parsed as YAML."""
    key, sep, raw = assignment.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set expects key=value, got '{assignment}'")
    parts = key.strip().split(".")
    value = load_yaml(f"v: {raw}" if raw.strip() else "v: ''", name=f"--set {key}")["v"]
    out = dict(data)
    node = out
    for i, part in enumerate(parts[:-1]):
        child = node.get(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{'.'.join(parts[: i + 1])}: is a value, not a section")
        node[part] = dict(child)
        node = node[part]
    node[parts[-1]] = value
    return out


def merge(base: dict, update: dict) -> dict:
    """Deep-merges `update` into a copy of `base` (sections merge, values replace)."""
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def build(cls: type, data: Any, path: str = "") -> Any:
    """Builds dataclass `cls` from a mapping, checking every key and type against its fields."""
    return _convert(cls, data, path)


def to_dict(obj: Any) -> Any:
    """The plain-data form of a config dataclass (what `build` reads back)."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def field_docs(cls: type) -> dict[str, str]:
    """The docstring written under each field of a dataclass (PEP 257 attribute docstrings)."""
    try:
        tree = ast.parse(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    docs, body = {}, tree.body[0].body
    for node, nxt in zip(body, body[1:]):
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                and isinstance(nxt, ast.Expr) and isinstance(getattr(nxt, "value", None), ast.Constant)
                and isinstance(nxt.value.value, str)):
            docs[node.target.id] = inspect.cleandoc(nxt.value.value)
    return docs


def check_minimums(obj: Any, **minimums: float) -> None:
    """For a config's __post_init__: the first field below its minimum is a ValueError naming it.

    Counts and sizes below their minimum do not fail loudly where they are used: a negative
    `input.limit` reads no file of a listing, a negative shard count reaches the writer.
    """
    for name, least in minimums.items():
        value = getattr(obj, name)
        if value < least:
            raise ValueError(f"{name} must be >= {least:g}, got {value}")


def _where(path: str) -> str:
    return path or "config"


def _convert(tp: Any, value: Any, path: str) -> Any:
    origin, args = get_origin(tp), get_args(tp)
    if dataclasses.is_dataclass(tp):
        return _convert_dataclass(tp, value, path)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return _convert(option, value, path)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{_where(path)}: {value!r} fits none of {tp}")
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{_where(path)}: must be one of {', '.join(map(repr, args))}, got {value!r}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{_where(path)}: expected a list, got {type(value).__name__} {value!r}")
        item = args[0] if args else Any
        return tuple(_convert(item, v, f"{path}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{_where(path)}: expected a mapping, got {type(value).__name__} {value!r}")
        key_tp, val_tp = args or (str, Any)
        return {_convert(key_tp, k, f"{path}.{k}"): _convert(val_tp, v, f"{path}.{k}") for k, v in value.items()}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(value)
        except ValueError:
            choices = ", ".join(repr(m.value) for m in tp)
            raise ConfigError(f"{_where(path)}: must be one of {choices}, got {value!r}") from None
    return _convert_scalar(tp, value, path)


def _convert_scalar(tp: type, value: Any, path: str) -> Any:
    # bool is a subclass of int in Python; a config that says `true` for a count is a mistake.
    if tp is bool and isinstance(value, bool):
        return value
    if tp is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        if value != value:   # NaN (YAML .nan) passes and fails every bound check silently
            raise ConfigError(f"{_where(path)}: expected a number, got .nan")
        return float(value)
    if tp is str and isinstance(value, str):
        return value
    raise ConfigError(f"{_where(path)}: expected {tp.__name__}, got {type(value).__name__} {value!r}")


def _convert_dataclass(cls: type, value: Any, path: str) -> Any:
    if dataclasses.is_dataclass(value) and isinstance(value, cls):
        return value
    if not isinstance(value, dict):
        raise ConfigError(f"{_where(path)}: expected a section (mapping), got {type(value).__name__} {value!r}")
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(value) - set(fields))
    if unknown:
        dotted = f"{path}.{unknown[0]}" if path else str(unknown[0])
        raise ConfigError(f"unknown config key '{dotted}' (known here: {', '.join(sorted(fields))})")
    kwargs = {name: _convert(hints[name], value[name], f"{path}.{name}" if path else name)
              for name in fields if name in value}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{_where(path)}: {err}") from None


__all__ = ["ConfigError", "apply_override", "build", "check_minimums", "field_docs", "load_yaml", "load_yaml_file",
           "merge", "to_dict"]
