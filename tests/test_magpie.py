"""Magpie: the pre-query template and query parsing on strings (en and zh), then whole
runs through `datagen run magpie` against the stub's /v1/completions, published to the
store; a chat-only server fails with a message saying why."""

from __future__ import annotations

import json
import zlib

import pytest
from click.testing import CliRunner

from datagen.cli import main
from datagen.errors import ConfigError
from datagen.generators.magpie.template import (CHATML_USER, PLACEHOLDER, chatml, conversation, cut_at_placeholder,
                                                fixed_renderer, parse_instruction, pre_query, stops_for,
                                                tokenizer_renderer)
from datagen.store import DatasetStore
from run_lines import run_output


class FakeTokenizer:
    """What Magpie uses of a Hugging Face tokenizer: a Llama-3-style template."""

    chat_template = "llama-3-ish"
    eos_token = "<|eot_id|>"

    def apply_chat_template(self, messages, tokenize=False):
        out = "<|begin_of_text|>"
        for m in messages:
            out += f"<|start_header_id|>{m['role']}<|end_header_id|>\n\n{m['content']}<|eot_id|>"
        return out


# ---- the template, on strings ------------------------------------------------------------------

def test_pre_query_is_the_template_cut_at_the_user_message():
    assert pre_query(chatml) == CHATML_USER
    assert pre_query(chatml, "You are a medical assistant.") == (
        "<|im_start|>system\nYou are a medical assistant.<|im_end|>\n<|im_start|>user\n")
    assert pre_query(chatml, "你是一名医学助手。", [("头痛怎么办？", "多休息。")]) == (
        "<|im_start|>system\n你是一名医学助手。<|im_end|>\n<|im_start|>user\n头痛怎么办？<|im_end|>\n"
        "<|im_start|>assistant\n多休息。<|im_end|>\n<|im_start|>user\n")
    llama = tokenizer_renderer(FakeTokenizer())
    assert pre_query(llama) == "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n"
    assert conversation(None)[-1] == {"role": "user", "content": PLACEHOLDER}
    with pytest.raises(ConfigError, match="does not render the user message"):
        cut_at_placeholder("<|im_start|>user\n<|im_end|>")


def test_a_fixed_template_serves_one_first_turn_unless_it_is_chatml():
    llama_user = "<|start_header_id|>user<|end_header_id|>\n\n"
    assert pre_query(fixed_renderer(llama_user)) == llama_user
    with pytest.raises(ConfigError, match="--tokenizer"):
        pre_query(fixed_renderer(llama_user), "You are a lawyer.")
    assert pre_query(fixed_renderer(CHATML_USER), "S", [("q", "a")]).endswith("<|im_start|>user\n")
    no_template = FakeTokenizer()
    no_template.chat_template = None
    with pytest.raises(ConfigError, match="no chat template"):
        tokenizer_renderer(no_template)


def test_stops_and_parsing():
    assert stops_for(chatml(conversation("s"))) == ["<|im_end|>", "<|im_start|>"]
    assert stops_for(FakeTokenizer().apply_chat_template(conversation(None)), "<|eot_id|>") == [
        "<|eot_id|>", "<|start_header_id|>"]
    assert parse_instruction("  How do I repot a cactus?<|im_end|>\n<|im_start|>assistant\n") == \
        "How do I repot a cactus?"
    assert parse_instruction("如何给仙人掌换盆？<|eot_id|>") == "如何给仙人掌换盆？"
    assert parse_instruction("Write a limerick.\n<|im_start|>user\nMore") == "Write a limerick."
    assert parse_instruction("<|im_end|>") == ""


# ---- whole runs against the stub -------------------------------------------------------------------

TOPICS = ("volcanoes tides sourdough chess glaciers lichens violins comets bonsai falconry typography "
          "beekeeping origami tango sundials").split()
ZH_TOPICS = "火山 潮汐 酸面包 象棋 冰川 地衣 小提琴 彗星 盆景 驯鹰 字体 养蜂 折纸 探戈 日晷".split()


def magpie_responder(zh_share: int = 0):
    """Raw completions write a query on a topic picked by the prompt's seed (every
    `zh_share`-th one in English even when asked for Chinese); chat calls answer it."""

    def respond(body):
        if "prompt" in body:
            n = zlib.crc32(str(body.get("seed")).encode())
            if "你是" in body["prompt"] and (not zh_share or n % zh_share):
                return f"请介绍{ZH_TOPICS[n % 15]}与{ZH_TOPICS[(n // 15) % 15]}之间的关系，第{n % 997}题。<|im_end|>"
            return (f"How are {TOPICS[n % 15]} and {TOPICS[(n // 15) % 15]} connected, "
                    f"question {n % 997}?<|im_end|>")
        return f"An answer to: {body['messages'][-1]['content']}"

    return respond


def run_magpie(stub, tmp_path, *extra, name="mp"):
    store = tmp_path / "store"
    res = CliRunner().invoke(main, ["run", "magpie", "--base-url", stub.url, "--no-embed", "--dataset", name,
                                    "--store", str(store), *extra])
    return res, store


def test_magpie_samples_queries_from_the_template_and_answers_them(stub, tmp_path):
    stub.default = magpie_responder()
    res, store = run_magpie(stub, tmp_path, "--num", "6", "--batch", "4", "--system",
                            "You are a gardening expert.")
    assert res.exit_code == 0, res.output
    records = DatasetStore(store).read("mp@v1")
    assert len(records) == 6
    for r in records:
        assert r.output == f"An answer to: {r.instruction}" and "<|im_end|>" not in r.instruction
        assert r.meta["system"] == "You are a gardening expert."
        assert r.meta["pre_query_template"] == ("<|im_start|>system\nYou are a gardening expert.<|im_end|>\n"
                                                "<|im_start|>user\n")
        assert r.meta["template_source"] == "--pre-query-template" and r.meta["turns"] == 1
    raw = [b for b, p in zip(stub.requests, stub.paths) if p.endswith("/v1/completions")]
    assert raw and all(b["prompt"] == records[0].meta["pre_query_template"] for b in raw)
    assert all(b["stop"] == ["<|im_end|>", "<|im_start|>"] and b["temperature"] == 1.0 for b in raw)
    assert len({b["seed"] for b in raw}) == len(raw)  # every sample its own seed
    chats = [b for b, p in zip(stub.requests, stub.paths) if p.endswith("/chat/completions")]
    assert all(b["messages"][0] == {"role": "system", "content": "You are a gardening expert."} for b in chats)


def test_multi_turn_conversations_continue_the_template(stub, tmp_path):
    stub.default = magpie_responder()
    res, store = run_magpie(stub, tmp_path, "--num", "3", "--batch", "3", "--turns", "2", "--no-system")
    assert res.exit_code == 0, res.output
    records = DatasetStore(store).read("mp")
    assert len(records) == 3
    for r in records:
        assert r.meta["turns"] == 2 and r.meta["system"] is None
        assert [m["role"] for m in r.messages] == ["user", "assistant", "user", "assistant"]
        # the flat fields are the first exchange; messages hold the whole conversation
        assert r.instruction == r.messages[0]["content"] and r.output == r.messages[1]["content"]
    follow = [b["prompt"] for b in stub.requests if "prompt" in b and b["prompt"] != CHATML_USER]
    assert len(follow) == 3
    first = records[0].messages
    assert any(p == (f"<|im_start|>user\n{first[0]['content']}<|im_end|>\n<|im_start|>assistant\n"
                     f"{first[1]['content']}<|im_end|>\n<|im_start|>user\n") for p in follow)


def test_a_chinese_system_prompt_makes_chinese_data(stub, tmp_path):
    stub.default = magpie_responder(zh_share=2)  # about every second query comes back in English
    res, store = run_magpie(stub, tmp_path, "--num", "6", "--batch", "6", "--lang", "zh", "--no-rouge")
    assert res.exit_code == 0, res.output
    records = DatasetStore(store).read("mp")
    assert len(records) == 6 and all(r.meta["lang"] == "zh" for r in records)
    assert all("你是" in r.meta["system"] for r in records)  # prompts/zh/magpie_system.txt
    assert all(r.instruction.startswith("请介绍") for r in records)
    rejects = DatasetStore(store).resolve("mp").rejects()
    assert rejects and {r["reason"] for r in rejects} - {"surplus"} == {"wrong_lang"}  # surplus: past --num


def test_empty_and_truncated_queries_are_dropped(stub, tmp_path):
    from stub_server import Reply, completion_body

    stub.enqueue("<|im_end|>", Reply(body=completion_body(["Tell me about a very long", ], finish_reason="length")))
    stub.default = magpie_responder()
    # --no-rouge: which two queries get the queued replies depends on arrival order, and two
    # of the others' topics can be ROUGE-similar (a rouge_dup: seen in 1 of 4 runs)
    res, store = run_magpie(stub, tmp_path, "--num", "2", "--batch", "4", "--no-system", "--no-rouge")
    assert res.exit_code == 0, res.output
    reasons = sorted(r["reason"] for r in DatasetStore(store).resolve("mp").rejects())
    assert reasons == ["empty_instruction", "truncated_instruction"]


def test_chat_only_apis_cannot_run_magpie(stub, tmp_path):
    stub.completions = False
    res, store = run_magpie(stub, tmp_path, "--num", "2")
    assert res.exit_code == 2
    assert "no raw completion endpoint (/v1/completions)" in res.output and "cannot run Magpie" in res.output
    assert len(res.output.strip().splitlines()) == 1 and "Traceback" not in res.output
    assert DatasetStore(store).versions("mp") == []
    res = CliRunner().invoke(main, ["run", "magpie", "--base-url", "https://api.openai.com/v1", "--num", "2",
                                    "--out", str(tmp_path / "o.jsonl")])
    assert res.exit_code == 2 and "api.openai.com" in res.output and "cannot run Magpie" in res.output
    assert not (tmp_path / "o.jsonl").exists()


def test_cli_command_from_the_config(tmp_path):
    res = CliRunner().invoke(main, ["run", "magpie", "--help"])
    assert res.exit_code == 0
    for flag in ("--system", "--no-system", "--turns", "--tokenizer", "--pre-query-template", "--batch"):
        assert flag in res.output
    res = CliRunner().invoke(main, ["run", "magpie", "--tokenizer", str(tmp_path / "none"), "--out",
                                    str(tmp_path / "o.jsonl")])
    assert res.exit_code == 2 and "tokenizer folder not found" in res.output


def test_the_example_pipeline_parses():
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "pipelines" / "magpie.yaml"
    res = CliRunner().invoke(main, ["run", str(path), "--dry-run"])
    assert res.exit_code == 0, res.output
    gen = json.JSONDecoder().raw_decode(res.output)[0]["generator"]
    assert gen["type"] == "magpie" and gen["system"].startswith("You are a medical assistant")


def test_the_system_prompt_is_the_system_turn_of_every_export_and_queries_have_their_ledger_line(stub, tmp_path):
    from datagen.export import export_dataset

    stub.default = magpie_responder()
    res, store = run_magpie(stub, tmp_path, "--num", "2", "--batch", "2", "--system", "You are a gardening expert.")
    assert res.exit_code == 0, res.output
    st = DatasetStore(store)
    rec = st.read("mp@v1")[0]
    assert rec.messages[0] == {"role": "system", "content": "You are a gardening expert."}
    assert rec.output == rec.messages[-1]["content"] and rec.instruction == rec.messages[1]["content"]
    out = tmp_path / "exp"
    export_dataset(st, "mp", "sharegpt", out)
    export_dataset(st, "mp", "alpaca", out)
    share = json.loads((out / "mp_sharegpt.json").read_text())
    alpaca = json.loads((out / "mp_alpaca.json").read_text())
    assert share[0]["system"] == alpaca[0]["system"] == "You are a gardening expert."
    stages = {r["stage"] for r in st.resolve("mp").manifest["usage"]["ledger"]["stages"]}
    assert "queries" in stages and "other" not in stages


def test_conversations_made_past_num_are_surplus_lines(stub, tmp_path):
    # --num 6 in rounds of 8: the answers past the sixth are paid for and not needed
    stub.default = magpie_responder()
    res, store = run_magpie(stub, tmp_path, "--num", "6", "--batch", "8", "--no-system", "--no-rouge")
    assert res.exit_code == 0, res.output
    version = DatasetStore(store).latest("mp")
    rejects = [json.loads(x) for x in version.rejects_path.read_text().splitlines()]
    surplus = [r for r in rejects if r["reason"] == "surplus"]
    assert surplus and version.manifest["usage"]["ledger"]["surplus"]["records"] == len(surplus)
    held = {r.instruction for r in DatasetStore(store).read("mp")} | {r["record"]["instruction"] for r in rejects}
    chats = [b for b, p in zip(stub.requests, stub.paths) if p.endswith("/chat/completions")]
    assert len(chats) > 6 and all(b["messages"][-1]["content"] in held for b in chats)


@pytest.mark.parametrize("share", [0.5, 0.8])
def test_a_cap_leaves_no_paid_query_unaccounted(stub, tmp_path, share):
    # every query the server wrote is in a kept record or a line, also in the round the cap
    # stopped between its queries (paid) and their answers
    respond, written = magpie_responder(), []

    def recording(body):
        text = respond(body)
        if "prompt" in body:
            written.append(text.removesuffix("<|im_end|>").strip())
        return text

    stub.default = recording
    args = ("--num", "12", "--batch", "4", "--no-system", "--no-rouge", "--max-tokens", "24",
            "--answer-max-tokens", "24")
    res, store = run_magpie(stub, tmp_path / "full", *args, "--cache-path", str(tmp_path / "full.sqlite"))
    assert res.exit_code == 0, res.output
    tokens = DatasetStore(store).latest("mp").manifest["usage"]["ledger"]["total"]["tokens"]
    written.clear()
    res, store = run_magpie(stub, tmp_path / "cap", *args, "--max-total-tokens", str(int(tokens * share)),
                            "--cache-path", str(tmp_path / "cap.sqlite"))
    assert res.exit_code == 0 and "stopped: budget" in res.output, res.output
    _, lines = run_output(DatasetStore(store), "mp")
    held = {(r.get("record") or r)["instruction"] for r in lines}
    assert written and [w for w in written if w not in held] == [], res.output


def test_a_reasoning_models_trace_is_kept_apart_and_bad_ones_dropped(stub, tmp_path):
    from stub_server import Reply, reasoning_body

    queries = magpie_responder()

    def respond(body):
        if "prompt" in body:
            return queries(body)
        q = body["messages"][-1]["content"]
        kind = zlib.crc32(q.encode()) % 3
        if kind == 0:  # the trace beside the answer, a refusal-like thought inside it
            return Reply(body=reasoning_body(f"An answer to: {q}", "I'm sorry, I can't... no wait, I can."))
        if kind == 1:  # cut off while thinking
            return Reply(body=reasoning_body("<think>First, consider the", field="", finish_reason="length"))
        return Reply(body=reasoning_body("", "Thinking it over, with nothing after."))  # no answer

    stub.default = respond
    res, store = run_magpie(stub, tmp_path, "--num", "4", "--batch", "8", "--no-system")
    assert res.exit_code == 0, res.output
    version = DatasetStore(store).resolve("mp")
    records = version.records()
    assert records and all(r.meta["reasoning"] == "I'm sorry, I can't... no wait, I can." for r in records)
    assert all(r.output == f"An answer to: {r.instruction}" and "think" not in r.output for r in records)
    reasons = {r["reason"] for r in version.rejects()}
    assert {"reasoning_truncated", "answer_missing"} <= reasons
