"""`datagen train` (LoRA on a dataset version) and `datagen generate` (base + adapter)."""

from __future__ import annotations


import click


def _load_yaml_train_section(path: str):
    """(the train mapping, its key path, an Origin pointing into the file): a pipeline
    keeps its training under `train:`; a train-only file is the mapping itself."""
    import yaml

    from ..config import Origin, yaml_key_lines
    from ..errors import ConfigError
    from ..io import read_text

    text = read_text(path)
    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: invalid YAML: {e}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: expected a mapping")
    origin = Origin(file=path, keys=yaml_key_lines(text))
    if "train" not in doc:
        return doc, "", origin
    section = doc["train"]
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: 'train' must be a mapping")
    return section, "train", origin.child("train")


def _train_option_set():
    from ..train.config import TrainConfig
    from .options import OptionSet

    return OptionSet(TrainConfig, "train")


TRAIN_OPTIONS = _train_option_set()


@click.command("train")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, exists=True), default=None,
              help="YAML with TrainConfig keys (or a pipeline YAML: its train: section). Flags override it.")
@click.option("--quiet", is_flag=True, help="No progress lines (step, loss, tokens/s, ETA on stderr).")
def train_command(config_path, quiet, **flags):
    """Fine-tune a LoRA adapter on a dataset version (or a JSONL file)."""
    from ..config import from_dict, override
    from ..extras import require_extra
    from ..train import TrainConfig, train
    from ..train.report import format_report

    if config_path:
        section, where, origin = _load_yaml_train_section(config_path)
        base = from_dict(TrainConfig, section, where, origin=origin)
    else:
        base = TrainConfig()
    cfg = override(base, TRAIN_OPTIONS.take(flags), TRAIN_OPTIONS.origin())
    require_extra("train")
    report = train(cfg, progress=not quiet)  # plain progress lines on stderr, terminal or log
    if report is not None:  # None on ranks other than 0 of a torchrun / accelerate launch
        click.echo(format_report(report))


train_command.params.extend(TRAIN_OPTIONS.params)


@click.command("generate")
@click.argument("prompt")
@click.option("--base-model", default=None, metavar="PATH", help="Local model folder, .gguf file or 'embedded' [default: the adapter's base].")
@click.option("--adapter", type=click.Path(file_okay=False), default=None, help="Adapter folder written by `datagen train`.")
@click.option("--system", default=None, help="System message.")
@click.option("--max-tokens", type=int, default=128, show_default=True)
@click.option("--temperature", type=float, default=0.0, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Sampling seed (temperature > 0).")
@click.option("--compare", is_flag=True, help="Also print the base model's answer without the adapter.")
@click.option("--threads", type=int, default=1, show_default=True)
def generate_command(prompt, base_model, adapter, system, max_tokens, temperature, seed, compare, threads):
    """Answer PROMPT with a base model plus a trained LoRA adapter."""
    from ..extras import require_extra
    from ..train.infer import generate, load_for_generation

    require_extra("train", "datagen generate")

    model, tok = load_for_generation(base_model, adapter, threads=threads)
    kw = dict(system=system, max_new_tokens=max_tokens, temperature=temperature, seed=seed)
    answer = generate(model, tok, prompt, **kw)
    if compare and adapter is not None:
        with model.disable_adapter():
            before = generate(model, tok, prompt, **kw)
        click.echo(f"--- base model ---\n{before}\n--- with adapter ---\n{answer}")
    else:
        click.echo(answer)


def register(group: click.Group) -> None:
    group.add_command(train_command)
    group.add_command(generate_command)
