"""datagen/report/plots.py: a CJK font installed after matplotlib wrote its font cache
(`make fonts` on a machine that already ran a report) is found, and the cache rebuilt."""

import copy

import pytest

from datagen.report import plots


def test_a_cjk_font_missing_from_a_stale_font_cache_is_found_and_cached(tmp_path, monkeypatch):
    from matplotlib import font_manager as fm

    stale = copy.copy(fm.fontManager)  # the cache as written before the font was installed
    cjk_files = {f.fname for f in fm.fontManager.ttflist if f.name in plots.CJK_FONTS}
    stale.ttflist = [f for f in fm.fontManager.ttflist if f.fname not in cjk_files]
    monkeypatch.setattr(fm, "fontManager", stale)
    cache = tmp_path / "fontlist.json"
    name = plots.ensure_cjk_font(cache)
    if name is None:
        pytest.skip("no CJK font on this machine (`make fonts` installs one)")
    assert name in plots.CJK_FONTS and name in cache.read_text(encoding="utf-8")
    assert plots.setup().rcParams["font.sans-serif"][0] == name
    assert plots.ensure_cjk_font(cache) == name  # listed now: no second scan


def test_the_reports_font_hint_is_what_make_fonts_installs():
    from pathlib import Path

    root = Path(plots.__file__).resolve().parents[2]
    template = (root / "datagen" / "report" / "template.html").read_text(encoding="utf-8")
    makefile = (root / "Makefile").read_text(encoding="utf-8")
    assert "make fonts" in template and "fonts-wqy-microhei" in template and "fonts-wqy-microhei" in makefile
    assert "make fonts" in (root / "README.md").read_text(encoding="utf-8")
