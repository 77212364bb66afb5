"""TrainConfig: every knob of a LoRA run, filled from YAML (`train:`) and CLI flags.

Defaults suit a real GPU run (HuaTuo's LoRA: r 8, alpha 16, dropout 0.05 on q/v; bf16
where the GPU has it; gradient checkpointing on CUDA). Tests shrink steps and lengths.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import ConfigError

PRECISIONS = ("auto", "bf16", "fp16", "fp32")


@dataclass
class TrainConfig:
    # what to train on: a store ref NAME[@vN] under `store`, or a JSONL file
    dataset: str | None = None
    store: str | None = None  # None: $DATAGEN_STORE or ./datasets
    data: str | None = None
    # the base model: a local folder (config.json + weights), a .gguf file, or "embedded"
    base_model: str = "embedded"
    out: str = "adapters/run"
    overwrite: bool = False
    # schedule
    epochs: float = 3.0
    max_steps: int | None = None  # when set, wins over epochs
    batch_size: int = 4
    grad_accum: int = 1
    learning_rate: float = 2e-4
    lr_scheduler: str = "cosine"
    warmup_ratio: float = 0.03
    weight_decay: float = 0.0
    max_length: int = 1024
    packing: bool = False
    eval_fraction: float = 0.1
    eval_steps: int | None = None  # default: about 10 evaluations per run
    logging_steps: int = 10
    save_steps: int | None = None  # checkpoints under OUT/checkpoints when set
    seed: int = 42
    system: str | None = None  # system message put before every record's conversation
    # LoRA
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "v_proj"])
    # hardware
    precision: str = "auto"  # auto = bf16 if the GPU has it, fp16 on older GPUs, fp32 on CPU
    gradient_checkpointing: bool | None = None  # None = on with CUDA, off on CPU
    load_in_4bit: bool = False  # QLoRA: needs bitsandbytes and a CUDA GPU
    threads: int | None = None  # torch CPU threads (None leaves torch's default)
    merge: bool = False  # also write OUT/merged: base + adapter folded into one model

    def __post_init__(self):
        if isinstance(self.target_modules, str):
            self.target_modules = [m.strip() for m in self.target_modules.split(",") if m.strip()]
        if self.precision not in PRECISIONS:
            raise ConfigError(f"train: precision must be one of {', '.join(PRECISIONS)}, got '{self.precision}'")
        if not 0.0 <= self.eval_fraction < 1.0:
            raise ConfigError("train: eval_fraction must be in [0, 1)")
        if self.max_steps is not None and self.max_steps < 1:
            raise ConfigError("train: max_steps must be at least 1")
        if self.epochs <= 0:
            raise ConfigError("train: epochs must be positive")
        for name in ("batch_size", "grad_accum", "max_length", "lora_r", "logging_steps"):
            if getattr(self, name) < 1:
                raise ConfigError(f"train: {name} must be at least 1")
        if not self.target_modules:
            raise ConfigError("train: target_modules must name at least one module (e.g. q_proj, v_proj)")
        if self.dataset and self.data:
            raise ConfigError("train: give either dataset (a store ref) or data (a JSONL file), not both")

    def require_input(self) -> None:
        if not self.dataset and not self.data:
            raise ConfigError("train: say what to train on: --dataset NAME[@vN] or --data FILE.jsonl")
