"""A small real store for the studio tests, published through DatasetStore, and a live
server on 127.0.0.1 (uvicorn in a thread)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from pathlib import Path

from datagen.records import Record
from datagen.store import DatasetStore

XSS = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2"><a href="javascript:window.__pwned=3">click</a>'
DOC = ("# 长城\n\n长城是中国古代的军事防御工程。它东起山海关，西至嘉峪关。\n\n"
       "The Great Wall is about 21,196 kilometres long. It was built over many centuries.\n")


def demo_records(n: int = 30) -> list[Record]:
    recs = []
    for i in range(n):
        zh = i % 3 == 0
        instr = f"请解释第{i}个关于长城的问题" if zh else f"Explain topic number {i} about rivers"
        meta = {"generator": "self-instruct", "lang": "zh" if zh else "en",
                "task_type": "classification" if i % 4 == 0 else "generation",
                "scores": {"judge": {"value": float(1 + i % 5), "reason": f"reason {i}"},
                           "ifd": {"value": round(0.1 * (i % 10), 2)}}}
        msgs = None
        if i % 10 == 7:
            msgs = [{"role": "user", "content": instr}, {"role": "assistant", "content": f"answer {i}"},
                    {"role": "user", "content": "and more?"}, {"role": "assistant", "content": "more."}]
        if i == 5:
            meta.update(generator="evol-instruct", seed_id="seed01", parent_id="p4", depth=2, method="deepen",
                        lineage=[{"id": "seed01", "instruction": "Name a river.", "method": ""},
                                 {"id": "p4", "instruction": "Name a long river.", "method": "constraints"}])
        recs.append(Record(instruction=instr, output=XSS if i == 2 else f"answer {i}", messages=msgs, meta=meta))
    return recs


def make_store(root: Path, n: int = 30) -> DatasetStore:
    """demo v0001 (n records, scored) and v0002 (a refresh adding 3); docs-qa v0001 (Self-QA
    with a document on disk); kg v0001 (Self-KG)."""
    store = DatasetStore(root)
    recs = demo_records(n)
    rejects = [{"reason": "rouge_duplicate", "filter": "rouge", "stage": "instruction",
                "record": Record(instruction="Explain topic number 1 about river").to_dict(),
                "detail": {"most_similar": recs[1].instruction, "rouge_l": 0.93}},
               {"reason": "too_short", "filter": "rules", "stage": "output",
                "record": Record(instruction="Hi").to_dict()}]
    ledger = {"currency": "USD", "stages": [{"stage": "generate", "model": "m", "endpoint": "", "mode": "online",
                                            "requests": 40, "cached": 2, "retries": 0, "prompt_tokens": 4000,
                                            "completion_tokens": 2000, "dollars": 0.0123}],
              "total": {"requests": 40, "cached": 2, "dollars": 0.0123, "prompt_tokens": 4000, "completion_tokens": 2000}}
    base = {"generator": "self-instruct", "backend": "openai", "model": "m", "lang": "en",
            "prompt_templates": {"en/self_instruct": "ab" * 32}, "usage": {"requests": 40, "ledger": ledger},
            "funnel": {"candidates": n + 2, "kept": n, "dropped": {"rouge_duplicate": 1, "too_short": 1}},
            "config": {"llm": {"api_key": "sk-SECRET-never-shown"}}}
    with store.lock("demo"):
        store.publish("demo", recs, rejects, {**base, "counts": {"added": n}})
        extra = [Record(instruction=f"New question {i} 新问题", output="ok", meta={"generator": "self-instruct"})
                 for i in range(3)]
        store.publish("demo", recs + extra, [], {**base, "counts": {"added": 3},
                                                 "config": {"llm": {"api_key": "sk-SECRET-two"}}}, parent="v0001")

    docs = root.parent / "docs"
    docs.mkdir(exist_ok=True)
    (docs / "wall.md").write_text(DOC, encoding="utf-8")
    from datagen.store import file_sha256

    start = DOC.index("长城是")
    end = DOC.index("The Great")
    ans_a = DOC.index("它东起")
    ans_b = DOC.index("。", ans_a) + 1
    qa = Record(instruction="长城东起哪里？", output=DOC[ans_a:ans_b],
                meta={"source": "self-qa", "lang": "zh", "doc": "wall.md", "chunk": [start, end],
                      "answer_mode": "extractive", "answer_span": [ans_a, ans_b], "grounding": 1.0})
    with store.lock("docs-qa"):
        store.publish("docs-qa", [qa], [], {"generator": "self-qa", "lang": "zh", "counts": {"added": 1},
                                            "inputs": {str(docs / "wall.md"): file_sha256(docs / "wall.md")}})
    kg = Record(instruction="What is the capital of France?", output="Paris",
                meta={"source": "self-kg", "mode": "template", "lang": "en", "entity": "France",
                      "triples": [{"head": "France", "relation": "capital", "tail": "Paris"}]})
    with store.lock("kg"):
        store.publish("kg", [kg], [], {"generator": "self-kg", "counts": {"added": 1}})
    return store


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def live_server(app, host: str = "127.0.0.1"):
    """Serve `app` with uvicorn on a free port in a thread; yields the base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("studio server did not start")
        time.sleep(0.02)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
