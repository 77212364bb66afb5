"""Config = dataclasses; YAML and flags fill them; unknown keys are rejected by name.

Each field is declared once: its type hint says what values it takes (`from_dict` checks
them and names the key), and its metadata carries the help text, the CLI flag when it
differs from the field name, and value constraints shared by YAML, flags and code:

    concurrency: int = field(default=8, metadata={"help": "Requests in flight.", "min": 1})

Metadata keys: help, flag ("--name", or "--on/--off" for a bool), choices, min, max, gt
(greater than), str_ok (a list field that also takes one string), path ("file"/"dir":
the flag checks it), off_flag (a flag that sets an optional field to None), cli (False:
no flag).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, Union

from .errors import ConfigError

T = TypeVar("T")


@dataclass(frozen=True)
class Origin:
    """Where values came from, so an error can point there: a file (with the line of each
    mapping key, see `yaml_key_lines`) or command-line flags (field name -> flag)."""

    file: str | None = None
    line: int | None = None
    keys: dict = field(default_factory=dict)  # key -> (line, nested keys)
    flags: dict | None = None

    def child(self, key: str) -> "Origin":
        line, keys = self.keys.get(key, (None, {}))
        return Origin(self.file, line or self.line, keys, self.flags)

    def prefix(self) -> str:
        if not self.file:
            return ""
        return f"{self.file}:{self.line}: " if self.line else f"{self.file}: "

    def error(self, path: str, problem: str, key: str | None = None) -> ConfigError:
        """A ConfigError naming the flag, or the file, line and dotted key path."""
        if self.flags is not None and key is not None:
            return ConfigError(f"{self.flags.get(key, '--' + key.replace('_', '-'))}: {problem}")
        here = self.child(key) if key is not None else self
        return ConfigError(f"{here.prefix()}{path}: {problem}" if path else f"{here.prefix()}{problem}")


def yaml_key_lines(text: str) -> dict:
    """The line of each mapping key in a YAML document: {key: (line, nested keys)}.
    Composed from yaml's nodes (no construction, so nothing but plain data is read)."""
    import yaml

    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return {}

    def walk(n) -> dict:
        out = {}
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                if isinstance(k, yaml.ScalarNode):
                    out[k.value] = (k.start_mark.line + 1, walk(v))
        return out

    return walk(node)


# -- one value against its type hint and its field's metadata ---------------------------

class _Mismatch(Exception):
    """`value` is not what the hint allows; `expected` says what is."""

    def __init__(self, expected: str):
        self.expected = expected


def _describe(hint) -> str:
    origin = typing.get_origin(hint)
    if hint is type(None):
        return "null"
    if hint is bool:
        return "true or false"
    if hint is int:
        return "an integer"
    if hint is float:
        return "a number"
    if hint is str:
        return "a string"
    if origin in (list, tuple) or hint in (list, tuple):
        return "a list"
    if origin is dict or hint is dict:
        return "a mapping"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(hint))
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(hint))
    if dataclasses.is_dataclass(hint):
        return "a mapping"
    return getattr(hint, "__name__", str(hint))


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def coerce(hint, value, meta: dict | None = None):
    """`value` checked against `hint` (int accepted for float, a tuple for a list, one
    string for a `str_ok` list); raises _Mismatch naming what was expected."""
    meta = meta or {}
    origin = typing.get_origin(hint)
    if hint is Any or hint is object:
        return value
    if origin in (Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None:
            if type(None) in args:
                return None
            raise _Mismatch(_describe(hint))
        for arm in args:
            if arm is type(None):
                continue
            try:
                return coerce(arm, value, meta)
            except _Mismatch:
                continue
        raise _Mismatch(_describe(hint))
    if hint is type(None):
        if value is None:
            return None
        raise _Mismatch("null")
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise _Mismatch("true or false")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _Mismatch("an integer")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise _Mismatch("a number")
    if hint is str:
        if isinstance(value, str):
            return value
        raise _Mismatch("a string")
    if origin is Literal:
        if value in typing.get_args(hint):
            return value
        raise _Mismatch(_describe(hint))
    if origin is list or hint is list:
        (item,) = typing.get_args(hint) or (Any,)
        if isinstance(value, str) and meta.get("str_ok"):
            return value  # the config's __post_init__ turns it into a list
        if not isinstance(value, (list, tuple)):
            raise _Mismatch(f"a list of {_plural(item)}" if item is not Any else "a list")
        out = []
        for v in value:
            try:
                out.append(coerce(item, v))
            except _Mismatch as e:
                raise _Mismatch(f"a list of {_plural(item)} ({_show(v)} is not {e.expected})") from None
        return out
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            raise _Mismatch("a mapping")
        kt, vt = typing.get_args(hint) or (Any, Any)
        return {coerce(kt, k): coerce(vt, v) for k, v in value.items()}
    if isinstance(hint, type):
        if isinstance(value, hint):
            return value
        raise _Mismatch(_describe(hint))
    return value


def _plural(hint) -> str:
    return {str: "strings", int: "integers", float: "numbers", bool: "true/false values"}.get(
        hint, _describe(hint))


def constraint_problem(meta: dict, value) -> str | None:
    """What is wrong with `value` under the field's min/max/gt/choices, or None."""
    choices = meta.get("choices")
    if choices is not None and value is not None and not isinstance(value, (list, tuple)) \
            and value not in choices:
        return f"must be one of {', '.join(repr(c) for c in choices)}, got {_show(value)}"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if "min" in meta and "max" in meta and not meta["min"] <= value <= meta["max"]:
        return f"must be between {meta['min']} and {meta['max']}, got {_show(value)}"
    if "min" in meta and value < meta["min"]:
        return f"must be at least {meta['min']}, got {_show(value)}"
    if "gt" in meta and value <= meta["gt"]:
        return f"must be greater than {meta['gt']}, got {_show(value)}"
    if "max" in meta and value > meta["max"]:
        return f"must be at most {meta['max']}, got {_show(value)}"
    return None


def validate(obj) -> None:
    """Check every field of dataclass `obj` against its metadata constraints (call from
    __post_init__, so code, YAML and flags all meet the same rules)."""
    for f in dataclasses.fields(obj):
        problem = constraint_problem(f.metadata, getattr(obj, f.name))
        if problem:
            raise ConfigError(f"{f.name}: {problem}")


def hints(cls) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def check_values(cls, data: dict[str, Any], where: str = "", origin: Origin | None = None) -> dict[str, Any]:
    """`data` (field name -> value) checked against `cls`'s fields: unknown keys, types
    and constraints, each error naming the key (or flag). Returns the coerced values;
    a mapping for a nested dataclass field becomes that dataclass."""
    origin = origin or Origin()
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = [k for k in data if k not in fields]
    if unknown:
        raise origin.error(where, f"unknown key '{unknown[0]}' (allowed: {', '.join(sorted(fields))})",
                           key=None if origin.flags is None else unknown[0])
    types_ = hints(cls)
    out = {}
    for name, value in data.items():
        path = f"{where}.{name}" if where else name
        hint, meta = types_.get(name, Any), fields[name].metadata
        sub = _dataclass_arm(hint)
        if sub is not None and isinstance(value, dict):
            out[name] = from_dict(sub, value, path, origin=origin.child(name))
            continue
        try:
            value = coerce(hint, value, meta)
        except _Mismatch as e:
            raise origin.error(path, f"expected {e.expected}, got {_show(value)}", key=name) from None
        problem = constraint_problem(meta, value)
        if problem:
            raise origin.error(path, problem, key=name)
        out[name] = value
    return out


def _dataclass_arm(hint):
    if dataclasses.is_dataclass(hint):
        return hint
    if typing.get_origin(hint) in (Union, types.UnionType):
        arms = [a for a in typing.get_args(hint) if dataclasses.is_dataclass(a)]
        return arms[0] if len(arms) == 1 else None
    return None


def from_dict(cls: type[T], data: dict[str, Any] | None, where: str = "config", *,
              origin: Origin | None = None) -> T:
    """Build dataclass `cls` from `data`, checking every key against the type hints and
    field metadata (recursing into nested dataclass fields). `where` is the key path
    for error messages ("filters"); `origin` the file and key lines, or the flags."""
    origin = origin or Origin()
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise origin.error(where, f"expected a mapping, got {_show(data)}")
    kwargs = check_values(cls, data, where, origin)
    try:
        return cls(**kwargs)
    except ConfigError as e:  # a cross-field check in __post_init__
        raise origin.error(where, _without(str(e), where)) from None
    except (TypeError, ValueError) as e:
        raise origin.error(where, str(e)) from None


def _without(message: str, where: str) -> str:
    """A __post_init__ message often starts with the section name; say it once."""
    for lead in (f"{where}: ", f"{where}."):
        if where and message.startswith(lead):
            return message[len(lead):]
    return message


def merge(base: T, **overrides: Any) -> T:
    """Return `base` with the non-None overrides applied (flags override YAML)."""
    changes = {k: v for k, v in overrides.items() if v is not None}
    return dataclasses.replace(base, **changes) if changes else base


def override(base: T, values: dict[str, Any], origin: Origin | None = None, where: str = "") -> T:
    """`base` with `values` (field -> value, all given; None sets a field to null)
    checked like `from_dict` and applied; with `origin.flags` errors name the flag."""
    if not values:
        return base
    origin = origin or Origin()
    checked = check_values(type(base), values, where, origin)
    try:
        return dataclasses.replace(base, **checked)
    except ConfigError as e:
        raise origin.error(where, _without(str(e), where)) from None
