"""`datagen llm "prompt"`: one completion from the configured backend (a smoke test)."""

from __future__ import annotations

import click

from .common import add_options, llm_config_from, llm_option_set

LLM_OPTIONS = llm_option_set()


@click.command("llm")
@click.argument("prompt")
@click.option("--system", default=None, help="System message.")
@click.option("--max-tokens", type=click.IntRange(min=1), default=128, show_default=True)
@click.option("--temperature", type=click.FloatRange(min=0), default=0.0, show_default=True)
@click.option("--choose", "options", default=None, help="Comma-separated options: answer with one of them.")
@click.option("--usage", "show_usage", is_flag=True, help="Print token usage to stderr.")
def llm_command(prompt, system, max_tokens, temperature, options, show_usage, **kwargs):
    """Print one completion of PROMPT from the configured backend."""
    from ..llm import chat, make_client

    cfg = llm_config_from(LLM_OPTIONS, kwargs)
    client = make_client(cfg)
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
    try:
        if options:
            choice = client.choose(messages, [o.strip() for o in options.split(",") if o.strip()])
            click.echo(choice.option if choice.option is not None else f"(no option matched: {choice.raw!r})")
        else:
            out = chat(client, messages, max_tokens=max_tokens, temperature=temperature)
            click.echo(out[0].text)
        if show_usage:
            click.echo(f"usage: {client.usage.as_dict()}", err=True)
    finally:
        client.close()


add_options(llm_command, LLM_OPTIONS)


def register(group: click.Group) -> None:
    group.add_command(llm_command)
