"""`datagen train` (LoRA on a dataset version) and `datagen generate` (base + adapter)."""

from __future__ import annotations

import click


def _load_yaml_train_section(path: str) -> dict:
    import yaml

    from ..errors import ConfigError
    from ..io import read_text

    try:
        doc = yaml.safe_load(read_text(path)) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: invalid YAML: {e}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: expected a mapping")
    # a pipeline file keeps its training under `train:`; a train-only file is the mapping itself
    section = doc.get("train", doc) if "train" in doc else doc
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: 'train' must be a mapping")
    return section


@click.command("train")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, exists=True), default=None,
              help="YAML with TrainConfig keys (or a pipeline YAML: its train: section). Flags override it.")
@click.option("--dataset", default=None, help="Dataset version to train on: NAME or NAME@vN.")
@click.option("--store", type=click.Path(file_okay=False), default=None, help="Dataset store root (default ./datasets).")
@click.option("--data", type=click.Path(dir_okay=False), default=None, help="Train on a JSONL file instead of a store version.")
@click.option("--base-model", default=None, help="Local model folder, a .gguf file, or 'embedded' (SmolLM2-135M).")
@click.option("--out", default=None, help="Output folder for the adapter, train_report.json and loss_curve.png.")
@click.option("--overwrite", is_flag=True, default=None, help="Replace a non-empty --out (only once the new run is done).")
@click.option("--epochs", type=float, default=None, help="Passes over the data (default 3).")
@click.option("--max-steps", type=int, default=None, help="Optimizer steps; wins over --epochs.")
@click.option("--batch-size", type=int, default=None, help="Per-device batch size (default 4).")
@click.option("--grad-accum", type=int, default=None, help="Gradient accumulation steps.")
@click.option("--lr", "learning_rate", type=float, default=None, help="Learning rate (default 2e-4).")
@click.option("--max-length", type=int, default=None, help="Token cut-off per example (default 1024).")
@click.option("--packing/--no-packing", default=None, help="Pack examples into max-length rows.")
@click.option("--eval-fraction", type=float, default=None, help="Held-out share of records (default 0.1).")
@click.option("--eval-steps", type=int, default=None, help="Evaluate every N steps (default: ~10 times a run).")
@click.option("--logging-steps", type=int, default=None, help="Log train loss every N steps (default 10).")
@click.option("--save-steps", type=int, default=None, help="Write checkpoints every N steps under OUT/checkpoints.")
@click.option("--seed", type=int, default=None, help="Seed for split, LoRA init and shuffling (default 42).")
@click.option("--system", default=None, help="System message before every conversation.")
@click.option("--lora-r", type=int, default=None, help="LoRA rank (default 8).")
@click.option("--lora-alpha", type=int, default=None, help="LoRA alpha (default 16).")
@click.option("--lora-dropout", type=float, default=None, help="LoRA dropout (default 0.05).")
@click.option("--target-modules", default=None, help="Comma-separated modules to adapt (default q_proj,v_proj).")
@click.option("--precision", type=click.Choice(["auto", "bf16", "fp16", "fp32"]), default=None,
              help="auto: bf16 on GPUs that have it, fp16 on older GPUs, fp32 on CPU.")
@click.option("--gradient-checkpointing/--no-gradient-checkpointing", default=None,
              help="Trade compute for memory (default: on with CUDA).")
@click.option("--load-in-4bit", is_flag=True, default=None, help="QLoRA: 4-bit base (needs bitsandbytes and a GPU).")
@click.option("--threads", type=int, default=None, help="torch CPU threads.")
@click.option("--merge", is_flag=True, default=None, help="Also write OUT/merged: the base with the adapter folded in.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def train_command(config_path, quiet, **flags):
    """Fine-tune a LoRA adapter on a dataset version (or a JSONL file)."""
    from ..config import from_dict, merge
    from ..train import TrainConfig, train
    from ..train.report import format_report

    base = from_dict(TrainConfig, _load_yaml_train_section(config_path), where=f"{config_path}: train") \
        if config_path else TrainConfig()
    try:
        cfg = merge(base, **flags)
    except (TypeError, ValueError) as e:
        from ..errors import ConfigError

        raise ConfigError(str(e)) from None
    cfg.__post_init__()
    report = train(cfg, progress=not quiet)
    click.echo(format_report(report))


@click.command("generate")
@click.argument("prompt")
@click.option("--base-model", default=None, help="Local model folder, .gguf file or 'embedded' (default: the adapter's base).")
@click.option("--adapter", type=click.Path(file_okay=False), default=None, help="Adapter folder written by `datagen train`.")
@click.option("--system", default=None, help="System message.")
@click.option("--max-tokens", type=int, default=128, show_default=True)
@click.option("--temperature", type=float, default=0.0, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Sampling seed (temperature > 0).")
@click.option("--compare", is_flag=True, help="Also print the base model's answer without the adapter.")
@click.option("--threads", type=int, default=1, show_default=True)
def generate_command(prompt, base_model, adapter, system, max_tokens, temperature, seed, compare, threads):
    """Answer PROMPT with a base model plus a trained LoRA adapter."""
    from ..train.infer import generate, load_for_generation

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
