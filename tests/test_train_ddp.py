"""`datagen train` under `torchrun --nproc_per_node 2` (gloo on CPU): real DDP, each rank
its own half of the data, one adapter and one report, written by rank 0 only."""

import json
import os
import subprocess
import sys

import pytest

from datagen.records import Record
from datagen.store import DatasetStore
from test_train_lora import tiny_model  # noqa: F401 (fixture)

pytestmark = [pytest.mark.model, pytest.mark.ddp]

TRAIN = "from datagen.cli import main; main()"


def test_torchrun_two_ranks_split_the_data_and_publish_once(tmp_path, tiny_model):  # noqa: F811
    pytest.importorskip("trl")
    store = DatasetStore(tmp_path / "datasets")
    store.publish("arith", [Record(instruction=f"What is {i} plus {i}?", output=f"{i} plus {i} is {2 * i}.")
                            for i in range(24)], [], {})
    out = tmp_path / "adapter"
    script = tmp_path / "train.py"
    script.write_text(TRAIN, encoding="utf-8")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(
        [str(p) for p in (os.environ.get("PYTHONPATH"),) if p] + [os.getcwd()])}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script),
         "train", "--dataset", "arith", "--store", str(store.root), "--base-model", str(tiny_model),
         "--out", str(out), "--epochs", "1", "--batch-size", "4", "--eval-fraction", "0", "--threads", "1",
         "--max-length", "128", "--logging-steps", "1", "--quiet"],
        capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "parallel_mode != ParallelMode.DISTRIBUTED" not in proc.stderr
    report = json.loads((out / "train_report.json").read_text())
    shards = report["distributed"]
    assert shards["world_size"] == 2 and shards["global_batch_size"] == 8
    assert shards["rows_per_rank"] == [12, 12] and shards["rows_on_several_ranks"] == 0
    assert report["steps"] == 3  # 24 rows / (4 per rank x 2 ranks): not 6, as two separate runs would take
    assert (out / "adapter_model.safetensors").is_file()
    # one adapter published, no build folders left by either rank
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".adapter")) == []
    assert proc.stdout.count("trained ") == 1  # the summary, from rank 0 only
    assert "distributed: 2 ranks, global batch 8, rows per rank [12, 12]" in proc.stdout
