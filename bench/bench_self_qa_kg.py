"""Self-QA / Self-KG throughput without a model: chunking the real corpus, and a whole
`self-qa` run against the stub server (prompt building, parsing, grounding, filters,
publish), plus Self-KG template mode. Writes bench/results/self_qa_kg.json."""

import json
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "results" / "self_qa_kg.json"
CORPUS = ROOT.parent / "shared" / "corpora" / "docs"
sys.path.insert(0, str(ROOT / "tests"))


def answer_from_chunk(body):
    prompt = body["messages"][0]["content"]
    chunk = prompt.split("<<<\n", 1)[1].split("\n>>>", 1)[0]
    sentences = [s for s in re.split(r"(?<=[。.!?！？])\s*", chunk) if len(s) > 20] or ["NOT ANSWERABLE"]
    if "Question: " in prompt.rsplit(">>>", 1)[1]:
        return sentences[len(prompt) % len(sentences)]
    return "\n".join(f"{i}. Question {i} about: {s[:60]}" for i, s in enumerate(sentences[:5], 1))[2:]


def main():
    import os

    from click.testing import CliRunner

    from datagen.cli import main as cli
    from datagen.io.documents import chunk_documents, read_documents
    from stub_server import StubLLMServer

    results = {}
    t = time.perf_counter()
    docs = read_documents(CORPUS)
    for _ in range(20):
        chunks = chunk_documents(docs, 1000, 150)
    sec = (time.perf_counter() - t) / 20
    chars = sum(len(d.text) for d in docs)
    results["chunking"] = {"documents": len(docs), "chars": chars, "chunks": len(chunks),
                           "seconds": round(sec, 4), "chars_per_second": round(chars / sec)}

    with tempfile.TemporaryDirectory() as tmp, StubLLMServer(answer_from_chunk) as stub:
        os.environ["DATAGEN_CACHE_DIR"] = tmp
        t = time.perf_counter()
        res = CliRunner().invoke(cli, ["run", "self-qa", "--docs", str(CORPUS), "--base-url", stub.url,
                                       "--num", "10000", "--no-embed", "--lang", "en", "--out",
                                       f"{tmp}/qa.jsonl", "--no-cache"], catch_exceptions=False)
        sec = time.perf_counter() - t
        kept = len(Path(f"{tmp}/qa.jsonl").read_text().splitlines())
        results["self_qa_stub_run"] = {"requests": len(stub.requests), "kept": kept, "seconds": round(sec, 2),
                                       "requests_per_second": round(len(stub.requests) / sec, 1),
                                       "exit_code": res.exit_code}
        t = time.perf_counter()
        res = CliRunner().invoke(cli, ["run", "self-kg", "--triples", str(ROOT / "seeds" / "kg_en.jsonl"), "--mode", "template",
                                       "--num", "10000", "--out", f"{tmp}/kg.jsonl"], catch_exceptions=False)
        sec = time.perf_counter() - t
        kept = len(Path(f"{tmp}/kg.jsonl").read_text().splitlines())
        results["self_kg_template_run"] = {"kept": kept, "seconds": round(sec, 3), "exit_code": res.exit_code}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
