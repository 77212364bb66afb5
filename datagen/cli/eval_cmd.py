"""`datagen eval --adapter DIR [--adapter DIR2 ...] --eval FILE`: adapters vs their base.

Every flag comes from an EvalConfig field (its metadata holds the help), so the YAML
`eval:` key and the flag are declared once.
"""

from __future__ import annotations

import dataclasses
import typing

import click

from ..eval.config import EvalConfig


def _click_type(hint):
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    base = args[0] if args else hint
    return {int: int, float: float}.get(base, str)


def config_options(cls):
    """click options for every field of dataclass `cls` (help and choices from metadata)."""
    hints = typing.get_type_hints(cls)

    def deco(fn):
        for f in reversed(dataclasses.fields(cls)):
            meta = f.metadata
            flag = meta.get("flag") or "--" + f.name.replace("_", "-")
            hint = hints[f.name]
            kw: dict = {"default": None, "help": meta.get("help")}
            if typing.get_origin(hint) is list:
                kw.update(multiple=True, default=())
            elif meta.get("choices"):
                kw["type"] = click.Choice([c for c in meta["choices"] if c is not None])
            else:
                kw["type"] = _click_type(hint)
            fn = click.option(flag, f.name, **kw)(fn)
        return fn
    return deco


@click.command("eval")
@config_options(EvalConfig)
@click.option("--quiet", is_flag=True, help="No progress lines.")
def eval_command(quiet, **flags):
    """Evaluate trained LoRA adapters against their base model on held-out tasks:
    ROUGE-L, exact match on label items, reference loss, and (with a judge) pairwise wins."""
    from ..errors import ConfigError
    from ..eval import run_eval
    from ..eval.report import format_report

    given = {k: (list(v) if isinstance(v, tuple) else v) for k, v in flags.items() if v not in (None, ())}
    try:
        cfg = EvalConfig(**given)
    except (TypeError, ValueError) as e:
        raise ConfigError(str(e)) from None
    report = run_eval(cfg, progress=not quiet)
    click.echo(format_report(report))
    if cfg.promote_if:
        from ..eval.gate import gate_version
        from ..eval.adapters import train_store
        from ..store import DatasetStore

        m = report["models"][1]
        t = m.get("trained_on") or {}
        if not t.get("dataset"):
            raise ConfigError("--promote-if needs an adapter trained on a store version")
        d = gate_version(DatasetStore(cfg.store or train_store(m["adapter_dir"])), t["dataset"], t["version"],
                         cfg.promote_metric, promote=True)
        click.echo(f"  gate: {d['reason']}" + (f"; {t['dataset']}@good -> {t['version']}" if d["promoted"] else ""))


def register(group: click.Group) -> None:
    group.add_command(eval_command)
