"""Matplotlib (Agg) pictures drawn from stats dicts only, so any stats.json can be
re-plotted. Each function takes one or more (label, stats) series: one for a report,
two for `--compare`, drawn on the same axes where that reads well.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

# Fonts with CJK glyphs, in order of preference; whichever is installed is used.
CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Micro Hei",
             "WenQuanYi Zen Hei", "Microsoft YaHei", "PingFang SC", "SimHei", "AR PL UMing CN")
COLORS = ("#4C72B0", "#DD8452", "#55A868", "#C44E52")

Series = list[tuple[str, dict[str, Any]]]


def setup() -> Any:
    """Import pyplot headless, with a CJK-capable font when one is installed."""
    import logging

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cjk = ensure_cjk_font()
    plt.rcParams["font.sans-serif"] = ([cjk] if cjk else []) + ["DejaVu Sans"]
    plt.rcParams["font.family"] = "sans-serif"
    plt.rcParams["axes.unicode_minus"] = False
    # Without a CJK font Chinese labels show as boxes; say so once in the report, not
    # once per glyph on stderr.
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    return plt


def _cjk_in(manager) -> str | None:
    installed = {f.name for f in manager.ttflist}
    return next((f for f in CJK_FONTS if f in installed), None)


def ensure_cjk_font(cache_path: str | Path | None = None) -> str | None:
    """The CJK font the pictures use, or None. Matplotlib lists fonts from a cache
    (~/.cache/matplotlib/fontlist-*.json) written when it first ran: a font installed
    after that (`make fonts`) is not in it, and Chinese labels stay boxes. So when no CJK
    font is listed, the system's font files not in the list are added and, if that finds
    one, the cache is written again (to `cache_path`, default matplotlib's own file)."""
    import matplotlib
    from matplotlib import font_manager as fm

    name = _cjk_in(fm.fontManager)
    if name:
        return name
    known = {f.fname for f in fm.fontManager.ttflist}
    new = [p for p in fm.findSystemFonts() if p not in known]
    for path in new:
        try:
            fm.fontManager.addfont(path)
        except (OSError, RuntimeError, ValueError):  # a file FreeType cannot read
            continue
    name = _cjk_in(fm.fontManager)
    if name:
        path = Path(cache_path) if cache_path else Path(matplotlib.get_cachedir(),
                                                        f"fontlist-v{fm.FontManager.__version__}.json")
        try:
            fm.json_dump(fm.fontManager, path)
        except OSError:
            pass  # a read-only cache: this process still has the font
    return name


def has_cjk_font() -> bool:
    return ensure_cjk_font() is not None


def _save(fig, path: Path) -> Path:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # missing-glyph warnings when no CJK font
        fig.savefig(path, dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def _hist(ax, series: list[tuple[str, dict]], xlabel: str, density: bool) -> None:
    many = len(series) > 1
    for i, (label, h) in enumerate(series):
        if not h or not h.get("counts"):
            continue
        edges, counts = h["edges"], list(h["counts"])
        total = h.get("n") or sum(counts) or 1
        ys = [c / total for c in counts] if density else counts
        widths = [b - a for a, b in zip(edges, edges[1:])]
        if many:
            ax.stairs(ys, edges, label=label, color=COLORS[i % 4], linewidth=1.8)
        else:
            ax.bar(edges[:-1], ys, width=widths, align="edge", color=COLORS[0], edgecolor="white",
                   linewidth=0.5)
    from matplotlib.ticker import MaxNLocator

    ax.set_xlabel(xlabel)
    ax.set_ylabel("share" if density else "count")
    if not density:
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    if many:
        ax.legend(fontsize=8)


def lengths_plot(series: Series, path: Path) -> Path:
    """Instruction / input / output length histograms (the tail past the 99th
    percentile is counted in the title, not drawn)."""
    plt = setup()
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    density = len(series) > 1
    for ax, field in zip(axes, ("instruction", "input", "output")):
        hs = [(label, st["lengths"][field]) for label, st in series]
        _hist(ax, hs, st_unit(series), density)
        extra = "\n".join(
            f"{label}: mean {h['mean']}" + (f", {h['overflow']} longer not shown" if h["overflow"] else "")
            if len(series) > 1
            else f"n={h['n']}, mean {h['mean']}, median {h['median']}"
            + (f", {h['overflow']} longer not shown" if h["overflow"] else "")
            for label, h in hs if h.get("n")
        )
        ax.set_title(f"{field} length\n{extra or 'none'}", fontsize=9)
    return _save(fig, path)


def st_unit(series: Series) -> str:
    langs = {st["dataset"]["lang"] for _, st in series}
    return "characters" if langs == {"zh"} else "words" if langs == {"en"} else "words (characters for Chinese)"


def rouge_plot(series: Series, path: Path, threshold: float = 0.7) -> Path | None:
    """The paper's Fig. 4 (ROUGE-L to the most similar seed) and the nearest other
    instruction, with the dedup threshold marked."""
    panels = [("seed", "ROUGE-L with the most similar seed"),
              ("nearest", "ROUGE-L with the nearest other instruction")]
    panels = [(k, t) for k, t in panels if any(st["rouge"].get(k) for _, st in series)]
    if not panels:
        return None
    plt = setup()
    fig, axes = plt.subplots(1, len(panels), figsize=(6.2 * len(panels), 3.6), squeeze=False)
    for ax, (key, title) in zip(axes[0], panels):
        hs = [(label, st["rouge"].get(key)) for label, st in series]
        _hist(ax, [(lbl, h) for lbl, h in hs if h], "ROUGE-L", density=len(series) > 1)
        ax.axvline(threshold, color="grey", linestyle="--", linewidth=1)
        ax.set_xlim(0, 1)
        note = "\n".join(f"{lbl}: {h['compared']} of {h['of']}, mean {h['mean']}" if len(series) > 1
                         else f"{h['compared']} of {h['of']} instructions, mean {h['mean']}"
                         for lbl, h in hs if h)
        ax.set_title(f"{title}\n{note}", fontsize=9)
    return _save(fig, path)


def verbs_plot(label: str, st: dict[str, Any], path: Path) -> Path | None:
    """Top leading verbs and verb–object pairs as horizontal bars (the paper's Fig. 2 as
    bars rather than a sunburst)."""
    d = st["diversity"]["verbs"]
    panels = [(d["verbs"], "leading verbs"), (d["verb_objects"], "verb + object")]
    if d["with_verb"] < d["instructions"] / 2:
        # mostly questions or statements: how they open says more than the few verbs
        panels.insert(0, (d["leading_words"], "leading words"))
    panels = [(rows, t) for rows, t in panels if rows]
    if not panels:
        return None
    plt = setup()
    n = max(len(rows) for rows, _ in panels)
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 0.28 * n + 1.4), squeeze=False)
    for ax, (rows, title) in zip(axes[0], panels):
        names = [r[0] for r in rows][::-1]
        vals = [r[1] for r in rows][::-1]
        ax.barh(range(len(vals)), vals, color=COLORS[0])
        ax.set_yticks(range(len(vals)), names, fontsize=8)
        ax.set_xlabel("instructions")
        ax.set_title(f"{label}: top {title}", fontsize=9)
    return _save(fig, path)


def funnel_plot(label: str, st: dict[str, Any], path: Path) -> Path | None:
    """Kept records and every drop reason of the run that built this version."""
    funnel = st["runs"]["funnel"]
    dropped = funnel.get("dropped") or {}
    if not dropped and funnel.get("kept") is None:
        return None
    rows = [(k, v) for k, v in sorted(dropped.items(), key=lambda kv: kv[1])]
    if funnel.get("kept") is not None:
        rows.append(("kept", funnel["kept"]))
    plt = setup()
    fig, ax = plt.subplots(figsize=(7, 0.32 * len(rows) + 1.3))
    colors = [COLORS[2] if k == "kept" else COLORS[3] for k, _ in rows]
    ax.barh(range(len(rows)), [v for _, v in rows], color=colors)
    ax.set_yticks(range(len(rows)), [k for k, _ in rows], fontsize=8)
    for i, (_, v) in enumerate(rows):
        ax.text(v, i, f" {v}", va="center", fontsize=8)
    cand = funnel.get("candidates")
    ax.set_title(f"{label}: filter funnel" + (f" ({cand} candidates)" if cand else ""), fontsize=9)
    ax.set_xlabel("candidates")
    return _save(fig, path)


def evolution_plot(label: str, records, path: Path) -> Path | None:
    """Evol-Instruct records by depth (steps from the seed) and by evolution method."""
    from collections import Counter

    evolved = [r.meta for r in records if r.meta.get("generator") == "evol-instruct" and "depth" in r.meta]
    if not evolved:
        return None
    depth = Counter(m["depth"] for m in evolved)
    methods = Counter(str(m.get("method")) for m in evolved).most_common()[::-1]
    plt = setup()
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 0.28 * len(methods) + 2.2))
    ks = sorted(depth)
    a.bar([str(k) for k in ks], [depth[k] for k in ks], color=COLORS[0])
    a.set_xlabel("depth (evolution steps from the seed)")
    a.set_ylabel("records")
    a.set_title(f"{label}: evolution depth", fontsize=9)
    b.barh(range(len(methods)), [v for _, v in methods], color=COLORS[1])
    b.set_yticks(range(len(methods)), [k for k, _ in methods], fontsize=8)
    b.set_xlabel("records")
    b.set_title(f"{label}: evolution methods", fontsize=9)
    return _save(fig, path)
