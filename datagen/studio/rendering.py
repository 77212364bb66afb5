"""Jinja2 for the pages: autoescape on for every template and string, package-local files."""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).parent


def templates():
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(HERE / "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True))
    env.filters["num"] = _num
    env.filters["money"] = lambda v: "-" if v is None else f"${v:,.4f}"
    env.filters["tojson_pretty"] = lambda v: json.dumps(v, ensure_ascii=False, indent=2, sort_keys=True)
    return env


def _num(v, digits: int = 3) -> str:
    if v is None or v == "":
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}g}" if abs(v) < 1000 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def render(request, name: str, status: int = 200, **context):
    from starlette.responses import HTMLResponse

    env = request.app.state.env
    context.setdefault("runs_enabled", getattr(request.app.state, "jobs", None) is not None)
    html = env.get_template(name).render(request=request, xsrf=request.app.state.xsrf, **context)
    return HTMLResponse(html, status_code=status)
