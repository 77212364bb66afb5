"""report.html: one self-contained file (PNGs embedded as data URIs).

Records are untrusted model output, so the page is rendered by Jinja2 with autoescaping
on: every value is HTML-escaped unless the template marks it safe, and only our own
base64 image data is.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import __version__
from ..records import Record

TEMPLATE = "template.html"


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.1%}" if 0 <= v <= 1 and not v.is_integer() else f"{v:,.2f}".rstrip("0").rstrip(".")
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def _ratio(v: Any) -> str:
    return "–" if v is None else f"{v:.3f}"


def _share_or_num(metric: str, v: Any) -> str:
    if v is None:
        return "–"
    if "share" in metric:
        return f"{v:.1%}"
    return _fmt(v)


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def _record_view(r: Record) -> dict[str, Any]:
    meta = {k: v for k, v in r.meta.items() if k not in ("prompt",)}
    return {
        "id": r.id,
        "instruction": r.instruction,
        "input": r.input,
        "output": r.output,
        "messages": r.messages if r.is_multi_turn else None,
        "meta": json.dumps(meta, ensure_ascii=False, sort_keys=True)[:600] if meta else "",
    }


def render(series: list[tuple[str, dict[str, Any]]], images: dict[str, list[Path | None]],
           samples: list[list[Record]], cjk_font: bool = True) -> str:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(Path(__file__).parent)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["fmt"] = _fmt
    env.filters["ratio"] = _ratio
    labels = [label for label, _ in series]
    table = []
    for i, row in enumerate(series[0][1]["paper_comparison"]):
        table.append({
            "metric": row["metric"],
            "ours": [_share_or_num(row["metric"], st["paper_comparison"][i]["ours"]) for _, st in series],
            "paper": _share_or_num(row["metric"], row["paper"]),
        })
    zh = any(st["dataset"]["lang"] == "zh" for _, st in series)
    return env.get_template(TEMPLATE).render(
        title=" vs ".join(labels),
        labels=labels,
        series=[{"label": label, "st": st} for label, st in series],
        table=table,
        images={k: [{"uri": _data_uri(p), "name": Path(p).name} if p else None for p in ps]
                for k, ps in images.items()},
        samples=[{"label": label, "records": [_record_view(r) for r in recs]}
                 for label, recs in zip(labels, samples)],
        paper=series[0][1]["paper"],
        no_font_warning=zh and not cjk_font,
        created=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        version=__version__,
    )
