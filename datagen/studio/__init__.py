"""datagen studio: a local web app over the dataset store (pages and a JSON API).

The top floor, beside `cli/`: it reads through `store/`, `eval/` and `run/`, and nothing
below imports it. Pages are server-rendered Jinja2 with autoescape; the JSON API returns
the same objects the pages show. Loopback by default; any other bind needs a token.
"""

from __future__ import annotations


def create_app(store_root, token: str | None = None, **kwargs):
    """The Starlette app over the store at `store_root` (see app.py)."""
    from .app import create_app as _create

    return _create(store_root, token=token, **kwargs)
