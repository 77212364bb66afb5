"""`datagen eval` end to end on a tiny random Llama (SmolLM2's tokenizer): the report and
plot, batching that changes nothing, the overlap refusal, the judge in both orders
against the stub server, held-out seeds, the store summaries, `datagen report` and
promote_if moving the `good` tag."""

import json

import pytest
from click.testing import CliRunner

from datagen.cli import main
from datagen.eval import EvalConfig, run_eval
from datagen.eval.history import load_history, record
from datagen.records import Record
from datagen.store import DatasetStore
from datagen.train import TrainConfig, train
from test_train_lora import arithmetic, tiny_model  # noqa: F401 (fixture)

pytest.importorskip("peft")


@pytest.fixture(scope="module")
def trained(tiny_model, tmp_path_factory):  # noqa: F811
    """Two versions of a dataset and an adapter trained on each."""
    root = tmp_path_factory.mktemp("evalstore")
    st = DatasetStore(root / "datasets")
    st.publish("arith", arithmetic(12), [], {})
    st.publish("arith", arithmetic(20), [], {}, parent="v0001")
    adapters = []
    for v in ("v0001", "v0002"):
        out = root / f"adapter-{v}"
        train(TrainConfig(base_model=str(tiny_model), out=str(out), dataset=f"arith@{v}", store=str(st.root),
                          max_steps=2, batch_size=4, learning_rate=2e-2, eval_fraction=0, threads=1,
                          max_length=96), progress=False)
        adapters.append(out)
    return st, adapters


def eval_file(tmp_path, rows=None):
    rows = rows or [{"instruction": f"Add {i} and {i}.", "output": f"{i} plus {i} is {2 * i}."} for i in (50, 61, 72)]
    rows = rows + [{"instruction": "Is this review positive or negative?", "input": "I loved it",
                    "output": "positive", "meta": {"task_type": "classification"}}]
    path = tmp_path / "eval.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    return path


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_eval_two_adapters_writes_report_plot_and_store_summaries(trained, tmp_path):
    st, adapters = trained
    ev = eval_file(tmp_path)
    out = tmp_path / "out"
    res = cli("eval", "--adapter", adapters[0], "--adapter", adapters[1], "--eval", ev, "--out", out,
              "--max-new-tokens", 6, "--threads", 1, "--quiet")
    assert res.exit_code == 0, res.output
    assert "arith@v0001: ROUGE-L" in res.output and "arith@v0002: ROUGE-L" in res.output
    report = json.loads((out / "eval_report.json").read_text())
    assert (out / "eval.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [m["id"] for m in report["models"]] == ["base", "adapter1", "adapter2"]
    assert report["models"][2]["trained_on"]["version"] == "v0002"
    assert report["eval_set"]["items"] == 4 and report["eval_set"]["eval"] == str(ev)
    assert report["eval_set"]["overlap_checked_against"] == ["arith@v0001", "arith@v0002"]
    assert len(report["eval_set"]["sha256"]) == 64 and report["device"] == "cpu"
    item = report["items"][3]
    assert item["label_item"] and set(item["outputs"]) == {"base", "adapter1", "adapter2"}
    for mid, ov in report["overall"].items():
        assert 0 <= ov["rouge_l"] <= 1 and ov["ref_loss"] > 0 and ov["exact_match_items"] == 1
        assert ov["ref_loss"] == pytest.approx(sum(i["outputs"][mid]["ref_loss"] for i in report["items"]) / 4,
                                               abs=1e-5)
    # random weights: the adapters moved the loss, so they are really applied
    losses = {mid: ov["ref_loss"] for mid, ov in report["overall"].items()}
    assert len(set(losses.values())) == 3
    hist = load_history(st, "arith")
    assert [h["version"] for h in hist] == ["v0001", "v0002"]
    assert hist[1]["adapter"] == report["overall"]["adapter2"] and hist[1]["eval_report"] == str(out / "eval_report.json")


def test_batching_and_padding_change_nothing(trained, tmp_path):
    _, adapters = trained
    ev = eval_file(tmp_path)
    runs = [run_eval(EvalConfig(adapters=[str(adapters[1])], eval=str(ev), out=str(tmp_path / f"o{b}"),
                                batch_size=b, max_new_tokens=5, threads=1)) for b in (1, 4)]
    for a, b in zip(runs[0]["items"], runs[1]["items"]):
        for mid in ("base", "adapter1"):
            assert a["outputs"][mid]["answer"] == b["outputs"][mid]["answer"]
            assert a["outputs"][mid]["ref_loss"] == pytest.approx(b["outputs"][mid]["ref_loss"], abs=1e-4)


def test_overlap_with_training_data_is_refused_or_dropped(trained, tmp_path):
    _, adapters = trained
    ev = eval_file(tmp_path, [{"instruction": "What is 3 plus 3?", "output": "3 plus 3 is 6."},
                              {"instruction": "Add 50 and 50.", "output": "50 plus 50 is 100."}])
    res = cli("eval", "--adapter", adapters[0], "--eval", ev, "--out", tmp_path / "r", "--quiet")
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert "1 of 3 items overlap the training data of arith@v0001 (first: item 1, exact_overlap)" in res.output
    assert not (tmp_path / "r" / "eval_report.json").exists()
    res = cli("eval", "--adapter", adapters[0], "--eval", ev, "--out", tmp_path / "d", "--overlap", "drop",
              "--max-new-tokens", 3, "--threads", 1, "--quiet")
    assert res.exit_code == 0, res.output
    assert "dropped 1 of 3 items overlapping the training data" in res.output
    report = json.loads((tmp_path / "d" / "eval_report.json").read_text())
    assert report["eval_set"]["items"] == 2
    assert report["eval_set"]["dropped_overlap"][0]["reason"] == "exact_overlap"


def test_judge_pairs_against_the_stub_both_orders(stub):
    """A judge with a position bias (always "A") on item 0, a tie on 1, a reply without a
    verdict on 2, a consistent preference for the base on 3 and for the adapter on 4."""
    from datagen.eval.judge import judge_pairs
    from datagen.llm import LLMConfig, make_client

    items = [Record(instruction=f"Task {i}.", output=f"ref {i}") for i in range(5)]
    adapter, base = [f"adapter answer {i}" for i in range(5)], [f"base answer {i}" for i in range(5)]

    def responder(body):
        prompt = body["messages"][-1]["content"]
        first = prompt.split("Answer A:\n")[1].split("\n")[0]
        if "Task 0." in prompt:
            return "The first is better.\nVerdict: A"
        if "Task 1." in prompt:
            return "Equally good.\nVerdict: tie"
        if "Task 2." in prompt:
            return "Hard to say, maybe the first one?"
        wanted = "base" if "Task 3." in prompt else "adapter"
        return "Verdict: A" if first.startswith(wanted) else "Verdict: B"

    stub.responder = responder
    client = make_client(LLMConfig(backend="openai", base_url=[stub.url], model="judge-1", cache=False))
    try:
        res = judge_pairs(client, items, adapter, base)
    finally:
        client.close()
    assert len(stub.requests) == 10  # two orders per item
    prompts = sorted(b["messages"][-1]["content"] for b in stub.requests if "Task 4." in b["messages"][-1]["content"])
    firsts = sorted(p.split("Answer A:\n")[1].split("\n")[0] for p in prompts)
    assert firsts == ["adapter answer 4", "base answer 4"]  # the answers were swapped
    assert [r["outcome"] for r in res] == ["tie", "tie", "malformed", "loss", "win"]
    assert [(o["adapter_is"], o["verdict"], o["view"]) for o in res[0]["orders"]] == [("A", "A", "win"),
                                                                                      ("B", "A", "loss")]
    assert [o["verdict"] for o in res[2]["orders"]] == [None, None]
    assert res[2]["orders"][0]["reply"] == "Hard to say, maybe the first one?"  # kept, not guessed
    from datagen.eval.judge import tally

    t = tally([r["outcome"] for r in res])
    assert (t["win"], t["tie"], t["loss"], t["malformed"], t["judged"]) == (1, 2, 1, 1, 4)


def test_eval_cli_with_a_judge(trained, tmp_path, stub):
    _, adapters = trained
    ev = eval_file(tmp_path)
    stub.default = lambda body: "Whichever comes first.\nVerdict: A"
    res = cli("eval", "--adapter", adapters[0], "--eval", ev, "--out", tmp_path / "j", "--max-new-tokens", 4,
              "--threads", 1, "--judge-base-url", stub.url, "--judge-model", "judge-1", "--quiet")
    assert res.exit_code == 0, res.output
    assert len(stub.requests) == 8  # 4 items x 2 orders
    assert all(b["model"] == "judge-1" and b["temperature"] == 0 for b in stub.requests)
    report = json.loads((tmp_path / "j" / "eval_report.json").read_text())
    t = report["overall"]["adapter1"]["judge"]
    assert (t["win"], t["tie"], t["loss"], t["judged"]) == (0, 4, 0, 4)  # pure position bias: all ties
    assert report["judge"]["model"] == "judge-1" and report["judge"]["prompt"] == "en/eval_pairwise"
    assert "judge win 0% (tie 100%, loss 0%)" in res.output
    assert (tmp_path / "j" / "eval.png").is_file()


def test_held_out_seeds_are_kept_from_the_generator_and_become_the_eval_set(tmp_path):
    from datagen.eval.evaluate import held_out_seeds
    from datagen.generators.self_instruct import SelfInstructConfig, SelfInstructGenerator

    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text("\n".join(json.dumps({"id": f"t{i}", "instruction": f"Task number {i}: do thing {i}.",
                                           "instances": [{"input": "", "output": f"done {i}"}],
                                           "is_classification": False}) for i in range(30)))
    gen = SelfInstructGenerator(SelfInstructConfig(seeds=[str(seeds)], hold_out_seeds=0.3))
    held = gen.report.held_out["seed_ids"]
    assert 3 <= len(held) <= 18 and gen.report.counts["held_out_seeds"] == len(held)
    assert not {s.id for s in gen.seeds} & set(held) and len(gen.seeds) + len(held) == 30
    again = SelfInstructGenerator(SelfInstructConfig(seeds=[str(seeds)], hold_out_seeds=0.3, seed=7))
    assert again.report.held_out["seed_ids"] == held
    st = DatasetStore(tmp_path / "ds")
    st.publish("si", [Record(instruction="x", output="y")], [], {"held_out": gen.report.held_out})
    es = held_out_seeds({"data": {"dataset": "si", "version": "v0001", "store": str(st.root)}})
    assert sorted(r.meta["task_id"] for r in es.records) == held
    assert es.source["held_out_seeds_of"] == "si@v0001"


def test_report_shows_every_evaluated_version_and_compare_side_by_side(tmp_path):
    st = DatasetStore(tmp_path / "ds")
    for i in range(3):
        st.publish("d", [Record(instruction=f"Question {j} of run {i}?", output="An answer.") for j in range(3)], [], {})
    for v, a, b, w in (("v0001", 0.30, 0.25, 0.5), ("v0003", 0.41, 0.33, 0.62)):
        record(st, "d", v, {"version": v, "dataset": "d", "eval_set": {"items": 50},
                            "adapter": {"rouge_l": a, "ref_loss": 1.2, "judge": {"win_rate": w, "tie_rate": 0.1,
                                                                              "loss_rate": 0.28, "malformed": 0}},
                            "base": {"rouge_l": b, "ref_loss": 2.0}})
    res = cli("report", "d", "--store", st.root, "--out", tmp_path / "r", "--quiet", "--rouge-sample", 10)
    assert res.exit_code == 0, res.output
    assert "v0001: ROUGE-L 0.30 vs base 0.25" in res.output
    assert "v0003: ROUGE-L 0.41 vs base 0.33, ref loss 1.20 vs 2.00, judge win 62%" in res.output
    html = (tmp_path / "r" / "report.html").read_text()
    assert "Adapter vs base" in html and "v0003: ROUGE-L 0.41 vs base 0.33" in html
    stats = json.loads((tmp_path / "r" / "stats.json").read_text())
    assert stats["evals"]["this"]["version"] == "v0003" and len(stats["evals"]["all"]) == 2
    res = cli("report", "--compare", "d@v1", "d@v3", "--store", st.root, "--out", tmp_path / "c", "--quiet",
              "--rouge-sample", 10)
    assert res.exit_code == 0, res.output
    assert "eval: v0001: ROUGE-L 0.30 vs base 0.25" in res.output and "| v0003: ROUGE-L 0.41" in res.output
    res = cli("report", "--compare", "d@v2", "d@v3", "--store", st.root, "--out", tmp_path / "c2", "--quiet",
              "--rouge-sample", 10)
    assert "v0002: not evaluated | v0003" in res.output


def test_promote_if_better_moves_good_across_two_versions(trained, tmp_path):
    st, adapters = trained
    ev = eval_file(tmp_path)
    store = tmp_path / "copy"
    import shutil

    shutil.copytree(st.root, store)
    shutil.rmtree(store / "arith" / "evals", ignore_errors=True)
    args = ["--eval", ev, "--store", store, "--max-new-tokens", 3, "--threads", 1, "--quiet",
            "--promote-if", "better", "--promote-metric", "ref_loss"]
    res = cli("eval", "--adapter", adapters[0], "--out", tmp_path / "e1", *args)
    assert res.exit_code == 0, res.output
    assert "gate: first evaluated version; arith@good -> v0001" in res.output
    s = DatasetStore(store)
    assert s.tags("arith") == {"good": "v0001"}
    res = cli("eval", "--adapter", adapters[1], "--out", tmp_path / "e2", *args)
    assert res.exit_code == 0, res.output
    hist = load_history(s, "arith")
    gate = hist[1]["gate"]
    assert gate["previous"] == "v0001" and gate["same_eval_set"] is True
    better = hist[1]["adapter"]["ref_loss"] < hist[0]["adapter"]["ref_loss"]
    assert gate["better"] is better and gate["promoted"] is better
    assert s.resolve("arith@good").version == ("v0002" if better else "v0001")
    assert (adapters[0] / "adapter_model.safetensors").is_file()  # the old adapter stays
    res = cli("datasets", "show", "arith@good", "--store", store)
    assert res.exit_code == 0 and s.resolve("arith@good").version in res.output and "tags: good" in res.output
