"""`datagen report NAME[@vN] --out DIR` and `datagen report --compare A B --out DIR`."""

from __future__ import annotations

import click


@click.command("report")
@click.argument("ref", required=False)
@click.option("--store", type=click.Path(file_okay=False), default=None, metavar="DIR",
              help="Dataset store root [default: ./datasets or $DATAGEN_STORE].")
@click.option("--data", "data", type=click.Path(dir_okay=False), default=None, metavar="FILE",
              help="Report on a plain JSONL file instead of a stored version.")
@click.option("--compare", nargs=2, metavar="A B", default=None,
              help="Two versions (NAME@vA NAME@vB) side by side.")
@click.option("--out", type=click.Path(file_okay=False), default=None, metavar="DIR",
              help="Folder for report.html, stats.json and the PNGs [default: ./report/NAME].")
@click.option("--seeds", type=click.Path(dir_okay=False), default=None, metavar="FILE",
              help="Seed tasks for the nearest-seed ROUGE-L [default: records marked source=seed].")
@click.option("--rouge-sample", type=int, default=2000, show_default=True,
              help="Instructions compared pairwise for nearest-other ROUGE-L (0 = all; quadratic).")
@click.option("--samples", type=int, default=20, show_default=True, help="Random records shown in the page.")
@click.option("--seed", "rng_seed", type=int, default=0, show_default=True, help="Seed for every random sample.")
@click.option("--quiet", is_flag=True, help="No progress output.")
def report_command(ref, store, data, compare, out, seeds, rouge_sample, samples, rng_seed, quiet):
    """Describe a dataset version: counts next to Self-Instruct's, lengths, ROUGE-L
    overlap, leading verbs, the filter funnel, token usage and a random sample."""
    from ..errors import ConfigError
    from ..extras import require_extra
    from ..report import ReportOptions, load_jsonl, load_version, write_report

    require_extra("report")
    given = [bool(ref), bool(data), bool(compare)]
    if sum(given) != 1:
        raise ConfigError("say what to report on: NAME[@vN], --data FILE.jsonl, or --compare A B")
    if compare:
        inputs = [load_version(r, store) for r in compare]
    elif data:
        inputs = [load_jsonl(data)]
    else:
        inputs = [load_version(ref, store)]
    # progress: a line per stage, and tqdm bars for the slow ones when on a terminal
    opts = ReportOptions(seeds=seeds, rouge_sample=rouge_sample or None, samples=samples,
                         seed=rng_seed, progress=not quiet)
    paths = write_report(inputs, out or default_out(ref, data, compare), opts)
    click.echo(f"wrote {paths['html']} ({len(paths['images'])} pictures, stats in {paths['stats'].name})")
    for line in eval_lines(inputs, compare=bool(compare)):
        click.echo(line)


def default_out(ref, data, compare) -> str:
    """./report/NAME: the dataset's name (with @vN when one was named), the data file's
    stem, or A-vs-B for a comparison."""
    from pathlib import Path

    def slug(r: str) -> str:
        return r.replace("@", "-").replace("/", "-")

    if compare:
        return str(Path("report") / f"{slug(compare[0])}-vs-{slug(compare[1])}")
    return str(Path("report") / (Path(data).stem if data else slug(ref)))


def eval_lines(inputs, compare: bool) -> list[str]:
    """`datagen eval` results: every evaluated version of the dataset, or with --compare
    the two versions side by side."""
    from ..eval.report import summary_line

    if compare:
        lines = []
        for inp in inputs:
            this = next((s for s in inp.evals if s.get("version") == inp.manifest.get("version")), None)
            lines.append(summary_line(this) if this else f"{inp.manifest.get('version')}: not evaluated")
        return ["eval: " + " | ".join(lines)] if any(inp.evals for inp in inputs) else []
    evals = inputs[0].evals
    return (["eval (adapter vs base):"] + ["  " + summary_line(s) for s in evals]) if evals else []


def register(group: click.Group) -> None:
    group.add_command(report_command)
