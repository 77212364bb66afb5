"""TrainConfig: every knob of a LoRA run, filled from YAML (`train:`) and CLI flags.

Defaults suit a real GPU run (HuaTuo's LoRA: r 8, alpha 16, dropout 0.05 on q/v; bf16
where the GPU has it; gradient checkpointing on CUDA). Tests shrink steps and lengths.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import ConfigError

PRECISIONS = ("auto", "bf16", "fp16", "fp32")
METHODS = ("sft", "dpo")
REPORTERS = {"none": None, "tensorboard": "tensorboard", "wandb": "wandb"}  # report_to -> package it needs


def _opt(default, help_: str, **meta):
    """A field with its help (and flag/limits): the YAML key and the `datagen train` flag."""
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"help": help_, **meta})
    return field(default=default, metadata={"help": help_, **meta})


@dataclass
class TrainConfig:
    """Every knob of a LoRA run (YAML `train:` section; `datagen train` flags)."""

    method: str = _opt("sft", "sft = supervised LoRA on instruction data; dpo = TRL's DPOTrainer on a preference "
                              "version (datagen prefs), see docs/training.md.", choices=METHODS)
    adapter: str | None = _opt(None, "dpo: start from this SFT adapter (the reference model is a frozen copy of "
                                     "it) instead of a fresh LoRA on the base.", path="dir")
    beta: float = _opt(0.1, "dpo: how far the policy may move from the reference (DPO's beta).", gt=0)
    # what to train on: a store ref NAME[@vN] under `store`, or a JSONL file
    dataset: str | None = _opt(None, "Dataset version to train on: NAME or NAME@vN.")
    store: str | None = _opt(None, "Dataset store root [default: ./datasets, or $DATAGEN_STORE].", path="dir")
    data: str | None = _opt(None, "Train on a JSONL file instead of a store version.", path="file")
    base_model: str = _opt("embedded", "Local model folder, a .gguf file, or 'embedded' (SmolLM2-135M).")
    out: str = _opt("adapters/run", "Output folder for the adapter, train_report.json and loss_curve.png.")
    overwrite: bool = _opt(False, "Replace a non-empty --out (only once the new run is done).")
    # schedule
    epochs: float = _opt(3.0, "Passes over the data.", gt=0)
    max_steps: int | None = _opt(None, "Optimizer steps; wins over --epochs.", min=1)
    batch_size: int = _opt(4, "Per-device batch size.", min=1)
    grad_accum: int = _opt(1, "Gradient accumulation steps.", min=1)
    learning_rate: float = _opt(2e-4, "Learning rate.", flag="--lr", gt=0)
    lr_scheduler: str = _opt("cosine", "Learning-rate schedule (a transformers scheduler name).")
    warmup_ratio: float = _opt(0.03, "Share of steps spent warming up the learning rate.", min=0, max=1)
    weight_decay: float = _opt(0.0, "AdamW weight decay.", min=0)
    max_length: int = _opt(1024, "Token cut-off per example.", min=1)
    packing: bool = _opt(False, "Pack examples into max-length rows.")
    eval_fraction: float = _opt(0.1, "Held-out share of records.", min=0)
    eval_steps: int | None = _opt(None, "Evaluate every N steps [default: about 10 times a run, never every step].", min=1)
    logging_steps: int = _opt(10, "Log train loss every N steps (fewer on short runs: at least about 10 points).", min=1)
    save_steps: int | None = _opt(None, "Write checkpoints every N steps under OUT/checkpoints.", min=1)
    seed: int = _opt(42, "Seed for split, LoRA init and shuffling.")
    system: str | None = _opt(None, "System message before every conversation.")
    # LoRA (HuaTuo's settings by default)
    lora_r: int = _opt(8, "LoRA rank.", min=1)
    lora_alpha: int = _opt(16, "LoRA alpha.", min=1)
    lora_dropout: float = _opt(0.05, "LoRA dropout.", min=0, max=1)
    target_modules: list[str] = _opt(["q_proj", "v_proj"], "Modules to adapt (comma-separated or repeated).",
                                     str_ok=True)
    # hardware
    precision: str = _opt("auto", "auto: bf16 on GPUs that have it, fp16 on older GPUs, fp32 on CPU.",
                          choices=PRECISIONS)
    gradient_checkpointing: bool | None = _opt(None, "Trade compute for memory [default: on with CUDA].")
    load_in_4bit: bool = _opt(False, "QLoRA: 4-bit base (needs bitsandbytes and a GPU).")
    threads: int | None = _opt(None, "torch CPU threads [default: torch's own].", min=1)
    merge: bool = _opt(False, "Also write OUT/merged: the base with the adapter folded in.")
    report_to: str = _opt("none", "Also log to TensorBoard (under OUT/checkpoints/runs) or Weights & Biases; "
                               "needs that package installed.", choices=tuple(REPORTERS))

    def __post_init__(self):
        from ..config import validate

        modules = [self.target_modules] if isinstance(self.target_modules, str) else self.target_modules or []
        self.target_modules = [m.strip() for item in modules for m in str(item).split(",") if m.strip()]
        if self.precision not in PRECISIONS:
            raise ConfigError(f"train: precision must be one of {', '.join(PRECISIONS)}, got '{self.precision}'")
        if not 0.0 <= self.eval_fraction < 1.0:
            raise ConfigError("train: eval_fraction must be in [0, 1)")
        validate(self)  # the per-field limits in the metadata above
        if not self.target_modules:
            raise ConfigError("train: target_modules must name at least one module (e.g. q_proj, v_proj)")
        package = REPORTERS[self.report_to]  # validate() checked it is a key
        if package:
            import importlib.util

            if importlib.util.find_spec(package) is None:
                raise ConfigError(f"train: report_to {self.report_to} needs the {package} package: pip install {package}")
        if self.adapter and self.method != "dpo":
            raise ConfigError("train: adapter (start from an SFT adapter) is for method dpo")
        if self.dataset and self.data:
            raise ConfigError("train: give either dataset (a store ref) or data (a JSONL file), not both")

    def require_input(self) -> None:
        if not self.dataset and not self.data:
            raise ConfigError("train: say what to train on: --dataset NAME[@vN] or --data FILE.jsonl")
