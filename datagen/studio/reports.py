"""A version's report in the studio: built on demand by the same builder as `datagen report`
(datagen/report/), into the studio's own folder `<store>/<name>/.studio/reports/<version>/`,
beside the indexes and drafts. Versions never change, so a built report is reused.

A report that `datagen report NAME@vN --out <store>/<name>/reports/<vN>` left in the store
shows too when the studio has built none. Only the PNGs and report.html of that one folder
are served, by names checked against a strict pattern and the folder's listing."""

from __future__ import annotations

import re
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..store import DatasetStore, DatasetVersion
from .index import studio_dir
from .refs import BadRequest, NotFound, StudioError

FIGURE_RE = re.compile(r"^[A-Za-z0-9_-]{1,80}\.png$")
HTML = "report.html"
LEGACY = "reports"  # <store>/<name>/reports/<version>/, where a user may have put one by hand
_build_lock = threading.Lock()  # matplotlib's pyplot is not thread-safe: one build at a time


def built_dir(dv: DatasetVersion) -> Path:
    return studio_dir(dv) / "reports" / dv.version


def _legacy_dir(store: DatasetStore, dv: DatasetVersion) -> Path:
    return store.dataset_dir(dv.name) / LEGACY / dv.version


def _pngs(d: Path) -> list[str]:
    return sorted(p.name for p in d.glob("*.png") if FIGURE_RE.match(p.name)) if d.is_dir() else []


def report_dir(store: DatasetStore, dv: DatasetVersion) -> Path | None:
    """The one folder whose files are shown and served: the studio's build, else a report
    left in the store by hand, else None."""
    own = built_dir(dv)
    if (own / HTML).is_file():
        return own
    legacy = _legacy_dir(store, dv)
    return legacy if _pngs(legacy) else None


def missing_extra() -> str | None:
    """One line when the `report` extra (matplotlib, jieba) is not installed, else None."""
    from ..extras import require_extra

    try:
        require_extra("report", "the studio's report")
    except ConfigError as e:
        return str(e)
    return None


def report_view(store: DatasetStore, dv: DatasetVersion, base: str | None = None) -> dict[str, Any]:
    """{built, figures, html, missing}: figure names (served at <base>/figures/NAME), the
    report.html URL when there is one, and the missing-extra line when it cannot be built."""
    base = base or f"/d/{dv.name}/{dv.version}"
    d = report_dir(store, dv)
    figures = _pngs(d) if d else []
    html = f"{base}/report/{HTML}" if d and (d / HTML).is_file() else None
    return {"built": d is not None, "figures": figures, "html": html,
            "missing": None if d else missing_extra()}


def build(store: DatasetStore, dv: DatasetVersion) -> dict[str, Any]:
    """Build the report once (the same write_report as `datagen report`), into a temp folder
    renamed into place, so a killed build never leaves half a report that is then reused."""
    line = missing_extra()
    if line:
        raise StudioError(line, 501)
    with _build_lock:
        out = built_dir(dv)
        if not (out / HTML).is_file():
            from ..report import ReportOptions, load_version, write_report

            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{dv.version}-", dir=out.parent))
            try:
                write_report([load_version(dv.ref, store.root)], tmp, ReportOptions(progress=False))
                if out.exists():  # a folder without report.html: an earlier build that died
                    shutil.rmtree(out)
                tmp.rename(out)
            finally:
                if tmp.exists():
                    shutil.rmtree(tmp, ignore_errors=True)
    return report_view(store, dv)


def report_file(store: DatasetStore, dv: DatasetVersion, name: str, html: bool = False) -> Path:
    """The path of one served file: a PNG (or report.html) of the report folder, nothing else."""
    if not (name == HTML if html else FIGURE_RE.match(name or "")):
        raise BadRequest("bad report file name")
    d = report_dir(store, dv)
    if d is None or (not html and name not in _pngs(d)) or not (d / name).is_file():
        raise NotFound("no such report file (build the report first)")
    path = (d / name).resolve()
    if path.parent != d.resolve():
        raise BadRequest("report file lies outside the report folder")
    return path
