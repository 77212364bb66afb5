"""The `datagen` command. Click commands only; the work lives in the library.

Each area registers its commands from its own module, so no module grows past a screenful
of options. DatagenError becomes a one-line message and its exit code (2; 3 for a held
lock); there is no traceback for user errors. Everything printed here is redacted first
(datagen.secrets): a server may quote the API key back in its error message.
"""

from __future__ import annotations

import sys

import click

from .. import __version__
from ..errors import DatagenError
from ..secrets import redact, redact_logging


class DatagenGroup(click.Group):
    def main(self, *args, standalone_mode: bool = True, **kwargs):
        from ..run.progress import quiet_libraries

        redact_logging()
        quiet_libraries()
        mark = _publish_mark()
        try:
            rv = super().main(*args, standalone_mode=False, **kwargs)
        except DatagenError as e:
            click.echo(f"error: {redact(e)}", err=True)
            sys.exit(e.exit_code)
        except click.exceptions.Abort:
            click.echo(_aborted_message(mark), err=True)
            sys.exit(130)
        except click.UsageError as e:
            click.echo(f"error: {redact(usage_message(e))}", err=True)
            sys.exit(e.exit_code)
        except click.ClickException as e:
            click.echo(f"error: {redact(' '.join(e.format_message().split()))}", err=True)
            sys.exit(e.exit_code)
        except click.exceptions.Exit as e:
            sys.exit(e.exit_code)
        except Exception:  # a bug: keep the traceback, but never with a key in it
            import traceback

            click.echo(redact(traceback.format_exc()).rstrip("\n"), err=True)
            sys.exit(1)
        if not standalone_mode:
            return rv
        # non-standalone click returns a command's return value (or an Exit's code); a
        # value some command happens to return must not become the exit status
        sys.exit(rv if type(rv) is int else 0)


def usage_message(e: click.UsageError) -> str:
    """One line for a click usage error, naming the option and the value:
    `--lang: 'xx' is not one of 'auto', 'en', 'zh'` (no Usage/Try lines)."""
    if isinstance(e, click.MissingParameter) and e.param is not None:
        return f"{_param_name(e.param)}: missing (required)"
    if isinstance(e, click.NoSuchOption):
        # click's own guess takes any 60% match ("--frobnicate": "--prices"); keep close ones
        import difflib

        near = difflib.get_close_matches(e.option_name, e.possibilities or [], n=3, cutoff=0.75)
        hint = f" (did you mean {' or '.join(repr(n) for n in near)}?)" if near else ""
        return f"no such option '{e.option_name}'{hint}"
    if isinstance(e, click.BadParameter) and e.param is not None:
        message = e.message
        return f"{_param_name(e.param)}: {' '.join(message.split()).rstrip('.')}"
    message = " ".join(e.format_message().split()).rstrip(".")
    return message[:1].lower() + message[1:]


def _param_name(param: click.Parameter) -> str:
    if isinstance(param, click.Option):
        return param.opts[0]
    return param.human_readable_name


def _publish_mark() -> int:
    versions = sys.modules.get("datagen.store.versions")  # not imported: nothing published yet
    return versions.publish_mark() if versions else 0


def _aborted_message(mark: int) -> str:
    """`aborted`, or which versions were published before the Ctrl-C landed: a version
    renamed into place is published, whatever the command was doing next."""
    versions = sys.modules.get("datagen.store.versions")
    done = versions.published_since(mark) if versions else []
    if not done:
        return "aborted"
    return "aborted after publishing " + ", ".join(f"{ref} ({path})" for ref, path in done)


@click.group(cls=DatagenGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="datagen")
def main():
    """Synthesize instruction data: generate, filter, version, export, train."""


def _register():
    from . import (batch_cmd, datasets_cmd, eval_cmd, filter_cmd, llm_cmd, report_cmd, run_cmd, score_cmd, store_cmd,
                   studio_cmd, train_cmd)
    from . import prefs_cmd

    for mod in (llm_cmd, run_cmd, filter_cmd, score_cmd, datasets_cmd, store_cmd, train_cmd, eval_cmd, report_cmd,
                batch_cmd, studio_cmd):
        mod.register(main)
    prefs_cmd.register(main)


_register()
