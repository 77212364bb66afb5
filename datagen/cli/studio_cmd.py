"""`datagen studio`: the web app over the store (datagen/studio)."""

from __future__ import annotations

import click


@click.command("studio")
@click.option("--store", type=click.Path(file_okay=False), default=None,
              help="Dataset store root [default: ./datasets, or $DATAGEN_STORE].")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind. Anything but the loopback requires a token (one is generated).")
@click.option("--port", type=click.IntRange(1, 65535), default=8765, show_default=True, help="Port to bind.")
@click.option("--open", "open_browser", is_flag=True, help="Open the studio in a browser.")
@click.option("--token", is_flag=False, flag_value="generate", default=None,
              help="Require this token on every request (--token alone: generate one and print it).")
def studio_command(store, host, port, open_browser, token):
    """Look at datasets, judge and correct them in a browser (pages and a JSON API)."""
    from ..studio.server import ServeOptions, serve

    serve(ServeOptions(store=store, host=host, port=port, token=token, open_browser=open_browser), echo=click.echo)


def register(group: click.Group) -> None:
    group.add_command(studio_command)
