"""The real embedded SmolLM2-135M: a few LoRA steps on CPU lower the loss, and the saved
adapter reloads with peft and answers."""

import pytest

from datagen.records import Record
from datagen.store import DatasetStore
from datagen.train import TrainConfig, train

pytestmark = pytest.mark.model


def test_embedded_smollm2_learns_and_adapter_reloads(tmp_path):
    st = DatasetStore(tmp_path / "datasets")
    recs = [Record(instruction=f"What is the code word for item {i}?", output=f"The code word is ZEBRA-{i}.")
            for i in range(16)]
    st.publish("codewords", recs, [], {})
    out = tmp_path / "adapter"
    report = train(TrainConfig(dataset="codewords", store=str(st.root), base_model="embedded", out=str(out),
                               max_steps=5, batch_size=4, learning_rate=2e-3, logging_steps=1, eval_fraction=0,
                               max_length=96, threads=1, lora_r=8, target_modules=["q_proj", "v_proj"]),
                   progress=False)
    curve = [p["loss"] for p in report["train_loss_curve"]]
    assert report["steps"] == 5 and curve[-1] < curve[0]
    assert report["base_model"].startswith("SmolLM2-135M-Instruct")
    assert (out / "adapter_model.safetensors").stat().st_size < 5_000_000  # r 8 on q/v: about 1.8 MB
    import json

    # the real id, not the local cache folder the weights were read from (issue #18.10)
    conf = json.loads((out / "adapter_config.json").read_text())
    assert conf["base_model_name_or_path"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert "base_model: HuggingFaceTB/SmolLM2-135M-Instruct" in (out / "README.md").read_text()

    from peft import PeftModel

    from datagen.train.infer import generate, load_for_generation

    model, tok = load_for_generation("embedded", out)
    assert isinstance(model, PeftModel)
    answer = generate(model, tok, "What is the code word for item 3?", max_new_tokens=12)
    assert answer.strip()
