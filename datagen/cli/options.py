"""Click options made from config dataclasses: each field's type, default and metadata
(help, flag, choices, path, off_flag, cli) give its flag, so an option is declared once.

    opts = OptionSet(LLMConfig, "llm")      # --backend, --base-url (multiple), --concurrency ...
    cmd = click.Command(name, params=opts.params + ..., callback=...)
    given = opts.take(kwargs)               # {field: value} for the flags that were given
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from typing import Any, Union

import click

_CLICK_TYPES = {int: click.INT, float: click.FLOAT, str: click.STRING}
_DEFAULT_RE = re.compile(r"\s*\(default:? ([^()]*)\)")
# what a text option holds, when its field does not say (metadata "metavar" or "path"):
# a path is never shown as TEXT
METAVARS = {"dataset": "NAME", "from_dataset": "REF", "store": "DIR", "out": "PATH", "cache_path": "FILE",
            "seeds": "FILE", "docs": "PATH", "triples": "PATH", "templates": "FILE", "prices": "FILE",
            "eval": "FILE", "adapter": "DIR", "adapters": "DIR", "base_model": "PATH", "model": "MODEL",
            "embed_model": "DIR", "lm_model": "DIR", "grounding_embed_model": "DIR", "tokenizer": "PATH",
            "data": "FILE", "rejects": "FILE", "decontaminate": "FILE", "system": "TEXT", "into": "NAME"}


def _bare(hint):
    """X for Optional[X]; the hint itself otherwise."""
    if typing.get_origin(hint) in (Union, types.UnionType):
        arms = [a for a in typing.get_args(hint) if a is not type(None)]
        return arms[0] if len(arms) == 1 else hint
    return hint


def _default(f: dataclasses.Field):
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def _show_default(value, flags: str | None = None) -> str:
    if isinstance(value, bool):
        if flags and "/" in flags:
            on, off = flags.split("/", 1)
            return on if value else off
        return "on" if value else "off"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    return str(value)


class OptionSet:
    """The click options of one config dataclass. Parameter names are prefixed
    (`llm__timeout`), so fields of different configs never collide in a callback."""

    def __init__(self, cls, prefix: str, *, skip: tuple[str, ...] = (), required: tuple[str, ...] = (),
                 defaults: dict[str, Any] | None = None):
        self.cls, self.prefix = cls, prefix
        self.params: list[click.Parameter] = []
        self.flags: dict[str, str] = {}  # field -> the flag named in errors
        self._off: dict[str, str] = {}  # field -> parameter of its off flag
        hints = typing.get_type_hints(cls)
        defaults = defaults or {}
        for f in dataclasses.fields(cls):
            meta = f.metadata
            if f.name in skip or meta.get("cli", True) is False or not f.init:
                continue
            self._add(f, _bare(hints[f.name]), meta, f.name in required, defaults.get(f.name, _default(f)))

    def _param(self, name: str) -> str:
        return f"{self.prefix}__{name}"

    def _add(self, f, hint, meta, required: bool, default) -> None:
        flag = meta.get("flag") or "--" + f.name.replace("_", "-")
        # one way of saying a default in every help text: "[default: X]"
        help_ = _DEFAULT_RE.sub(r" [default: \1]", meta.get("help", ""))
        origin = typing.get_origin(hint)
        # no default: click then passes None (or () for a list) when a flag is not given; a
        # default of None would count as given for `required` on click 8.3
        kw: dict[str, Any] = {"required": required}
        if hint is bool:
            kw["default"] = None  # a bool flag's own default would be False
            if "/" not in flag:
                flag = f"{flag}/--no-{flag[2:]}"
        else:
            item = typing.get_args(hint)[0] if origin is list else hint
            if meta.get("choices"):
                kw["type"] = click.Choice([str(c) for c in meta["choices"]])
            elif meta.get("path") in ("file", "dir", "any"):
                kw["type"] = click.Path(dir_okay=meta["path"] != "file", file_okay=meta["path"] != "dir")
                kw["metavar"] = {"file": "FILE", "dir": "DIR", "any": "PATH"}[meta["path"]]
            else:
                kw["type"] = _CLICK_TYPES.get(item, click.STRING)
                if kw["type"] is click.STRING and (meta.get("metavar") or f.name in METAVARS):
                    kw["metavar"] = meta.get("metavar") or METAVARS[f.name]
            if origin is list:
                kw["multiple"] = True
                help_ += " Repeatable." if "repeat" not in help_.lower() else ""
        if not required and default not in (None, "", [], ()):
            help_ += f"  [default: {_show_default(default, flag)}]"
        self.flags[f.name] = flag.split("/")[0]
        self.params.append(click.Option([flag, self._param(f.name)], help=help_.strip(), **kw))
        if meta.get("off_flag"):
            off = self._param(f.name) + "__off"
            self._off[f.name] = off
            self.params.append(click.Option([meta["off_flag"], off], is_flag=True, default=False,
                                            help=f"Turn {flag} off."))

    def take(self, kwargs: dict) -> dict[str, Any]:
        """Pop this set's parameters from a callback's kwargs: {field: value} for the
        flags that were given (an off flag gives None)."""
        given: dict[str, Any] = {}
        for name in self.flags:
            v = kwargs.pop(self._param(name), None)
            if isinstance(v, tuple):
                v = list(v) or None
            if v is not None:
                given[name] = v
        for name, off in self._off.items():
            if kwargs.pop(off, False):
                given[name] = None
        return given

    def origin(self):
        from ..config import Origin

        return Origin(flags=dict(self.flags))


def check_unique(sets: list[OptionSet]) -> None:
    """No flag may be declared twice across the sets of one command."""
    seen: dict[str, str] = {}
    for s in sets:
        for p in s.params:
            for opt in list(p.opts) + list(getattr(p, "secondary_opts", [])):
                if opt in seen:
                    raise RuntimeError(f"flag {opt} declared by both {seen[opt]} and {s.cls.__name__}")
                seen[opt] = s.cls.__name__
