"""`datagen eval --adapter DIR [--adapter DIR2 ...] --eval FILE`: adapters vs their base.

Every flag comes from an EvalConfig field (its metadata holds the help), so the YAML
`eval:` key and the flag are declared once.
"""

from __future__ import annotations

import sys

import click


def _eval_option_set():
    from ..eval.config import EvalConfig
    from .options import OptionSet

    return OptionSet(EvalConfig, "eval")


EVAL_OPTIONS = _eval_option_set()


@click.command("eval")
@click.option("--quiet", is_flag=True, help="No progress lines.")
def eval_command(quiet, **flags):
    """Evaluate trained LoRA adapters against their base model on held-out tasks:
    ROUGE-L, exact match on label items, reference loss, and (with a judge) pairwise wins."""
    from ..config import override
    from ..eval import EvalConfig, run_eval
    from ..eval.report import format_report
    from ..extras import require_extra

    cfg = override(EvalConfig(), EVAL_OPTIONS.take(flags), EVAL_OPTIONS.origin())
    require_extra("train", "datagen eval")
    report = run_eval(cfg, progress=not quiet and sys.stderr.isatty())
    click.echo(format_report(report))
    if cfg.promote_if:
        from ..errors import ConfigError
        from ..eval.adapters import train_store
        from ..eval.gate import gate_version
        from ..store import DatasetStore

        m = report["models"][1]
        t = m.get("trained_on") or {}
        if not t.get("dataset"):
            raise ConfigError("--promote-if needs an adapter trained on a store version")
        d = gate_version(DatasetStore(cfg.store or train_store(m["adapter_dir"])), t["dataset"], t["version"],
                         cfg.promote_metric, promote=True)
        click.echo(f"  gate: {d['reason']}" + (f"; {t['dataset']}@good -> {t['version']}" if d["promoted"] else ""))


eval_command.params.extend(EVAL_OPTIONS.params)


def register(group: click.Group) -> None:
    group.add_command(eval_command)
