"""--executor ray on a local 2-CPU Ray cluster: the same records as local, a killed
worker's block retried without duplicates, the workers' answers folded into the cache."""

import json
import os
import random
import re
import sqlite3

import pytest
from click.testing import CliRunner

ray = pytest.importorskip("ray")

from datagen.cli import main  # noqa: E402
from test_self_qa_rounds import WORDS, write_docs  # noqa: E402  (the same corpus)

pytestmark = pytest.mark.ray

@pytest.fixture
def docs(tmp_path):
    return write_docs(tmp_path)


def responder(body):
    """Questions from the chunk's words (the same for the same chunk wherever it is asked);
    one question every chunk asks (a cross-block duplicate); answers quote the chunk."""
    prompt = body["messages"][0]["content"]
    chunk = prompt.split("<<<\n", 1)[1].split("\n>>>", 1)[0]
    question = re.search(r"Question: (.+)$", prompt)
    if question and "\n>>>" in prompt.split(question.group(0))[0]:
        q = question.group(1)
        if "refuse" in q:
            return "The text does not say."
        return chunk.split(". ")[0] + "."
    nums = re.findall(r"number (\d+)", chunk)
    rng = random.Random(chunk)
    qs = [f"{rng.choice(('Why', 'How', 'When'))} does {' '.join(rng.sample(WORDS, 4))} hold {n}?" for n in nums[:3]]
    qs += ["What does every stone hold?", f"Should we refuse number {nums[0]}?"]
    return "\n".join(f"{i}. {q}" for i, q in enumerate(qs, 1))[2:]


def run(*args):
    return CliRunner().invoke(main, ["run", "self-qa", *map(str, args)], catch_exceptions=False)


def common(stub, docs):
    return ("--docs", docs, "--base-url", stub.url, "--num", 25, "--no-embed", "--rouge", 0.8, "--lang", "en",
            "--chunk-chars", 200, "--overlap", 0, "--batch", 3, "--questions", 5)


def read(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_ray_keeps_the_same_records_as_local(cluster, stub, docs, tmp_path):
    stub.responder = responder
    local = run(*common(stub, docs), "--out", tmp_path / "local.jsonl", "--cache-path", tmp_path / "a.sqlite")
    assert local.exit_code == 0, local.output
    local_calls = len(stub.requests)
    ray_run = run(*common(stub, docs), "--out", tmp_path / "ray.jsonl", "--cache-path", tmp_path / "b.sqlite",
                  "--executor", "ray")
    assert ray_run.exit_code == 0, ray_run.output
    ray_calls = len(stub.requests) - local_calls
    kept_local, kept_ray = read(tmp_path / "local.jsonl"), read(tmp_path / "ray.jsonl")
    assert len(kept_local) == 25
    assert kept_ray == kept_local
    reasons = {r["reason"] for r in read(tmp_path / "ray.rejects.jsonl")}
    # the driver saw what only the whole run sees: a question an earlier block asked
    assert {"duplicate_question", "answer_refusal"} <= reasons
    assert f"{ray_calls} requests" in ray_run.output
    # every answer a worker asked for is in the driver's cache file now: a re-run asks nothing
    with sqlite3.connect(tmp_path / "b.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM responses").fetchone()[0] == ray_calls
    again = run(*common(stub, docs), "--out", tmp_path / "again.jsonl", "--cache-path", tmp_path / "b.sqlite",
                "--executor", "ray")
    assert again.exit_code == 0, again.output
    assert len(stub.requests) == local_calls + ray_calls
    assert read(tmp_path / "again.jsonl") == kept_local


def test_killed_worker_block_is_retried_once(cluster, stub, docs, tmp_path):
    from datagen.filters import FilterConfig, build_chain
    from datagen.generators import run_language
    from datagen.generators.self_qa.generator import SelfQAConfig, SelfQAGenerator
    from datagen.llm import LLMConfig, make_client
    from datagen.run.executor import RayExecutor
    from datagen.run.runner import run_generator

    marker = tmp_path / "crashed"

    class CrashOnce(SelfQAGenerator):  # defined here: Ray pickles it by value
        def run_block(self, block, client, asked_before=frozenset()):
            try:
                fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                return super().run_block(block, client, asked_before)
            os.close(fd)
            os._exit(1)  # the worker process dies mid-block, before returning anything

    stub.responder = responder
    cfg = SelfQAConfig(docs=str(docs), lang="en", chunk_chars=200, overlap=0, batch=3, questions_per_chunk=5)
    llm = LLMConfig(backend="openai", base_url=[stub.url], cache=False)

    def go(gen, executor=None):
        run_language(gen, "en")
        client = make_client(llm)
        try:
            return run_generator(gen, client, build_chain(FilterConfig(embed=None, rouge=0.8), "en"), 40, executor=executor)
        finally:
            client.close()

    local = go(SelfQAGenerator(cfg))
    crashed = go(CrashOnce(cfg), RayExecutor(llm, workers=2))
    assert marker.exists()  # a worker really died
    ids = [r.instruction for r in crashed.kept]
    assert len(ids) == len(set(ids))  # the retried block's records appear once
    assert [r.to_dict() for r in crashed.kept] == [r.to_dict() for r in local.kept]
    assert crashed.report.counts["blocks"] >= 1 and crashed.report.stop_reason == local.report.stop_reason


def test_self_kg_ray_equals_local(cluster, stub, tmp_path):
    from test_self_kg import SEEDS, kg_responder

    stub.responder = kg_responder
    args = ("--triples", SEEDS / "kg_en.jsonl", "--base-url", stub.url, "--num", 12, "--no-embed", "--batch", 4,
            "--no-cache")
    outs = {}
    for executor in ("local", "ray"):
        res = CliRunner().invoke(main, ["run", "self-kg", *map(str, args), "--executor", executor,
                                        "--out", str(tmp_path / f"{executor}.jsonl")], catch_exceptions=False)
        assert res.exit_code == 0, res.output
        outs[executor] = read(tmp_path / f"{executor}.jsonl")
    assert len(outs["local"]) == 12
    assert outs["ray"] == outs["local"]


def test_generator_without_blocks_runs_on_the_driver(cluster, stub, tmp_path):
    stub.default = lambda body: "1. Describe how rivers shape valleys over time\n2. Explain why copper conducts heat well"
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text("\n".join(json.dumps({"instruction": f"Name three uses of {w} in daily life.", "output": "x"})
                               for w in WORDS[:8]), encoding="utf-8")
    res = CliRunner().invoke(main, ["run", "self-instruct", "--seeds", str(seeds), "--base-url", stub.url,
                                    "--num", 2, "--no-embed", "--executor", "ray", "--no-cache",
                                    "--out", str(tmp_path / "si.jsonl")], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "no independent input blocks; it ran on the driver" in res.output


def _parent_cmdline(pid: int) -> tuple[int, str]:
    ppid = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
    return ppid, open(f"/proc/{ppid}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")


def test_cache_misses_convert_as_ray_tasks(cluster, doc_folder):
    from datagen.io import convert
    from datagen.llm import LLMConfig
    from datagen.run.executor import RayExecutor

    files = sorted(doc_folder.iterdir())
    inline = convert.convert_files(files, workers=1, cache=False)
    first = convert.convert_files(files, map_fn=RayExecutor(LLMConfig()).map)
    # the same text, pages and bad-document reasons as a local conversion
    assert first == inline and first[1].error.startswith("not a readable EPUB file")
    assert not any(c.cached for c in first)
    for c in first:  # converted in Ray worker processes: neither here nor in a pool of ours
        ppid, parent = _parent_cmdline(c.pid)
        assert c.pid != os.getpid() and ppid != os.getpid() and "raylet" in parent
    # the driver wrote the cache: a rerun converts nothing, in Ray or anywhere
    calls = []
    again = convert.convert_files(files, map_fn=lambda fn, items: calls.append(items) or list(map(fn, items)))
    assert calls == [] and all(c.cached and c.pid == 0 for c in again)
    assert [(c.text, c.pages, c.error) for c in again] == [(c.text, c.pages, c.error) for c in first]


def test_self_qa_under_ray_converts_its_documents_there(cluster, stub, doc_folder, tmp_path):
    from datagen.generators.self_qa.generator import SelfQAConfig, SelfQAGenerator
    from datagen.llm import LLMConfig
    from datagen.run.executor import RayExecutor
    from datagen.run.job import make_generator

    class Recording(RayExecutor):
        mapped: list = []

        def map(self, fn, items):
            self.mapped = self.mapped + [p.name for p in items]
            return super().map(fn, items)

    ex = Recording(LLMConfig())
    gen = make_generator(SelfQAGenerator, SelfQAConfig(docs=str(doc_folder), lang="auto"), ex)
    assert sorted(ex.mapped) == sorted(p.name for p in doc_folder.iterdir())
    assert gen.report.skipped["broken.epub"].startswith("not a readable EPUB file")
    assert {d.doc_id for d in gen.documents} == {"self_instruct_README.pdf", "self_instruct_README.docx",
                                                 "004_722e8f5d027ef2f0.html"}
    make_generator(SelfQAGenerator, SelfQAConfig(docs=str(doc_folder), lang="auto"), ex)
    assert len(ex.mapped) == 4  # the rerun came from the cache
    # fail-fast under ray: the bad file stops the run before any request
    stub.default = lambda body: "1. What is it?"
    res = run("--docs", doc_folder, "--base-url", stub.url, "--num", 2, "--executor", "ray", "--on-bad-doc", "fail",
              "--out", tmp_path / "o.jsonl")
    assert res.exit_code == 2 and "broken.epub" in res.output and "not a readable EPUB file" in res.output
    assert stub.requests == []
