"""Rank handling for `datagen train` under `torchrun` / `accelerate launch` (DDP), and
with an accelerate config for FSDP or DeepSpeed ZeRO (docs/scale.md).

The launcher sets WORLD_SIZE, RANK and LOCAL_RANK; the Trainer then runs DDP (each rank
a disjoint shard of every epoch). Everything that writes OUT happens on rank 0 only: the
adapter, the merge, the plot and the report; the other ranks train and evaluate with it
(collectives) and return nothing.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Dist:
    world_size: int = 1
    rank: int = 0
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def dist_env() -> Dist:
    """This process's place in the launch (1 process, rank 0 without a launcher)."""
    env = os.environ
    return Dist(int(env.get("WORLD_SIZE", 1)), int(env.get("RANK", 0)), int(env.get("LOCAL_RANK", 0)))


def init(d: Dist) -> bool:
    """Join the process group now (gloo on CPU, nccl on CUDA), so rank 0 can share the
    build folder before the Trainer starts; True when this call started it."""
    if not d.distributed:
        return False
    import torch
    import torch.distributed as td

    if td.is_initialized():
        return False
    if torch.cuda.is_available():
        torch.cuda.set_device(d.local_rank)
    td.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return True


def sft_kwargs(d: Dist) -> dict:
    """SFTConfig arguments for a distributed run: on CPU the Trainer needs use_cpu to
    choose gloo DDP (else it trains every rank on all the data, not distributed)."""
    if not d.distributed:
        return {}
    import torch

    kw: dict = {"ddp_find_unused_parameters": False}  # LoRA: frozen base weights get no gradient
    if not torch.cuda.is_available():
        kw.update(use_cpu=True, ddp_backend="gloo")
    return kw


def share(d: Dist, value):
    """Rank 0's `value` on every rank."""
    if not d.distributed:
        return value
    import torch.distributed as td

    box = [value if d.is_main else None]
    td.broadcast_object_list(box, src=0)
    return box[0]


def gather(d: Dist, value) -> list:
    """Every rank's `value`, in rank order (on every rank)."""
    if not d.distributed:
        return [value]
    import torch.distributed as td

    out = [None] * d.world_size
    td.all_gather_object(out, value)
    return out


def barrier(d: Dist) -> None:
    if d.distributed:
        import torch.distributed as td

        td.barrier()


def finish(d: Dist, started: bool) -> None:
    if started:
        import torch.distributed as td

        td.barrier()
        td.destroy_process_group()


class CountingCollator:
    """Wraps the Trainer's collator to record which rows this rank trained on (a digest
    per row), so the report can say each rank saw its own share of the data."""

    def __init__(self, collate):
        self.collate = collate
        self.rows: list[str] = []
        self.counting = False

    def __call__(self, examples):
        if self.counting:
            # SFT rows have input_ids; DPO rows prompt_ids, chosen_ids and rejected_ids
            self.rows.extend(hashlib.sha1(repr([list(e[k]) for k in sorted(e) if k.endswith("input_ids")]
                                               or [list(e[k]) for k in sorted(e) if k.endswith("_ids")]).encode()
                                          ).hexdigest()[:16] for e in examples)
        return self.collate(examples)

    def __getattr__(self, name):  # the Trainer asks the collator for its own settings
        return getattr(self.collate, name)


def shard_report(d: Dist, rows: list[str], per_device: int, grad_accum: int) -> dict:
    """World size, global batch, and the rows each rank trained on (gathered)."""
    per_rank = gather(d, rows)
    from collections import Counter

    ranks_of = Counter(h for rows_ in per_rank for h in set(rows_))
    overlap = sum(1 for n in ranks_of.values() if n > 1)  # DistributedSampler pads a short last shard
    return {"world_size": d.world_size, "global_batch_size": per_device * grad_accum * d.world_size,
            "rows_per_rank": [len(r) for r in per_rank], "rows_on_several_ranks": overlap}
