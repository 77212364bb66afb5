"""`--batch-api`: each stage's requests as one OpenAI Batch API job, answered from the cache.

chat_many builds the stage's requests the cache cannot answer into a JSONL file, uploads
it (`POST /files`, purpose batch), submits it (`POST /batches`, window 24h), polls it, and
downloads the output and error files; every result goes into the response cache, and
the call then answers from the cache, so generators run unchanged. The ledger charges the
batch price.

Exactly once: a job's id is written to the state file (beside the dataset's lock, or in
the cache dir) right after submission and removed once its results are cached. A killed
process, run again, builds the same requests, finds the job by their digest and resumes
polling it instead of submitting again. Rows that failed or expired are resubmitted in a
new job (bounded), then sent online with `--batch-fallback online`, else answered empty
(finish_reason "error", which every parser drops). Fixed-choice questions asked together
(choose_many: classification, judges) take the same path, with the online client's body
(max_tokens 8, logprobs) and cache key, the cached value a Choice (no option when every
job failed); a single `choose` goes online.

For servers without /v1/batches (vLLM): `datagen batch export` / `import` (cli/batch_cmd.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from ..errors import LLMError
from .base import ChatClient, ChatRequest, Choice, Completion, Message
from .stages import CLASSIFY
from .cache import default_cache_path, request_key
from .ledger import stage_of

DONE = ("completed", "failed", "expired", "cancelled")
RESUBMITS = 1  # new jobs for rows a job failed or let expire, before the fallback


def request_body(model: str, req: ChatRequest) -> dict[str, Any]:
    """The /chat/completions body of `req`, as the online client sends it."""
    messages = req.message_dicts()
    if req.prefill:
        messages.append({"role": "assistant", "content": req.prefill})
    body: dict[str, Any] = dict(model=model, messages=messages, temperature=req.temperature, top_p=req.top_p,
                                max_tokens=req.max_tokens, n=req.n)
    if req.stop:
        body["stop"] = list(req.stop)
    if req.seed is not None:
        body["seed"] = req.seed
    return body


def batch_line(custom_id: str, body: dict[str, Any]) -> str:
    return json.dumps({"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body},
                      ensure_ascii=False)


def completions_from(body: dict[str, Any], req: ChatRequest) -> list[Completion]:
    """Completions from a chat.completion body (a batch output row's response.body)."""
    choices = body.get("choices") or []
    if not choices:
        raise ValueError("no choices")
    from .openai_wire import completion_of, reasoning_tokens

    out = [completion_of(ch if isinstance(ch, dict) else {}, req.prefill) for ch in choices[: req.n]]
    usage = body.get("usage") or {}
    out[0].prompt_tokens = int(usage.get("prompt_tokens") or 0)
    out[0].completion_tokens = int(usage.get("completion_tokens") or 0)
    out[0].reasoning_tokens = reasoning_tokens(body)
    return out


def import_choices(lines, keys, options, cache, usage=None) -> set[str]:
    """Fixed-choice rows of a batch output file into the cache as Choices; the custom_ids answered."""
    from .openai_wire import choice_from

    done = set()
    for line in lines:
        if not line.strip():
            continue
        row = json.loads(line)
        cid, resp = row.get("custom_id"), row.get("response") or {}
        if cid not in keys or row.get("error") or resp.get("status_code") != 200:
            continue
        try:
            choice, comp = choice_from(resp.get("body") or {}, options)
        except (KeyError, IndexError, TypeError, AttributeError):
            continue
        cache.put_json(cid, {"option": choice.option, "scores": choice.scores, "raw": choice.raw})
        if usage is not None:
            usage.add([comp], stage=CLASSIFY.name, mode="batch")
        done.add(cid)
    return done


def import_results(lines, requests_by_id: dict[str, ChatRequest], cache, usage=None, stage=None,
                   mode: str = "batch") -> set[str]:
    """Put the rows of a batch output file into the cache; the custom_ids answered."""
    done = set()
    for line in lines:
        if not line.strip():
            continue
        row = json.loads(line)
        cid = row.get("custom_id")
        resp = row.get("response") or {}
        req = requests_by_id.get(cid)
        if req is None or row.get("error") or resp.get("status_code") != 200:
            continue
        try:
            comps = completions_from(resp.get("body") or {}, req)
        except (ValueError, TypeError, AttributeError):
            continue
        cache.put(cid, comps)
        if usage is not None:
            usage.add(comps, stage=stage, mode=mode)
        done.add(cid)
    return done


class BatchState:
    """Submitted jobs by the digest of their requests, in a JSON file (atomic writes)."""

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = Path(path) if path else default_cache_path().with_name("batches.json")

    def load(self) -> dict[str, Any]:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def _save(self, data: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
        os.replace(tmp, self.path)

    def get(self, digest: str) -> dict[str, Any] | None:
        return self.load().get(digest)

    def put(self, digest: str, job: dict[str, Any]) -> None:
        data = self.load()
        data[digest] = job
        self._save(data)

    def drop(self, digest: str) -> None:
        data = self.load()
        if data.pop(digest, None) is not None:
            self._save(data)


class BatchChatClient(ChatClient):
    """A ChatClient that sends chat requests through the Batch API of the wrapped
    OpenAIChatClient's first endpoint (its cache, model, key, usage and ledger)."""

    backend = "openai-batch"  # concurrent_calls stays False: rounds run strict (one job per stage of a round)
    returns_reasoning = True  # batch output rows are parsed as online replies (openai_wire.completion_of)

    def __init__(self, online, state_path=None, fallback: str = "none", poll: float = 10.0,
                 poll_timeout: float | None = None, progress: bool = True):
        self.online = online
        self.model = online.model
        self.usage = online.usage
        self.cache = online.cache
        self.state = BatchState(state_path)
        self.fallback, self.poll, self.poll_timeout, self.progress = fallback, poll, poll_timeout, progress
        self.base_url = online.base_urls[0]
        self.jobs_submitted = 0
        self._http = None

    def __repr__(self) -> str:
        return f"BatchChatClient({self.online!r})"

    # -- HTTP ---------------------------------------------------------------------------
    def _client(self):
        if self._http is None:
            import httpx

            self._http = httpx.Client(base_url=self.base_url, timeout=self.online.timeout,
                                      headers={"Authorization": f"Bearer {self.online._api_key}"})
        return self._http

    def _req(self, method: str, path: str, **kw):
        try:
            r = self._client().request(method, path, **kw)
        except Exception as exc:  # noqa: BLE001 - one LLMError, never the key
            raise LLMError(f"batch API {path}: {type(exc).__name__}: {str(exc)[:200]}") from None
        if r.status_code >= 400:
            raise LLMError(f"batch API {self.base_url}{path}: HTTP {r.status_code} {r.text[:200]}")
        return r

    def submit(self, lines: list[str]) -> dict[str, Any]:
        data = ("\n".join(lines) + "\n").encode("utf-8")
        f = self._req("POST", "/files", data={"purpose": "batch"},
                      files={"file": ("datagen-batch.jsonl", data, "application/jsonl")}).json()
        job = self._req("POST", "/batches", json={"input_file_id": f["id"], "endpoint": "/v1/chat/completions",
                                                  "completion_window": "24h"}).json()
        self.jobs_submitted += 1
        return {"batch_id": job["id"], "input_file_id": f["id"], "submitted": time.time()}

    def wait(self, batch_id: str, desc: str) -> dict[str, Any]:
        t0 = time.monotonic()
        while True:
            job = self._req("GET", f"/batches/{batch_id}").json()
            status = job.get("status")
            counts = job.get("request_counts") or {}
            if self.progress:
                print(f"\r{desc}: batch {batch_id} {status} {counts.get('completed', 0)}/{counts.get('total', '?')}",
                      end="", file=sys.stderr, flush=True)
            if status in DONE:
                if self.progress:
                    print(file=sys.stderr, flush=True)
                return job
            if self.poll_timeout is not None and time.monotonic() - t0 > self.poll_timeout:
                raise LLMError(f"batch {batch_id} still {status}; run the same command again to resume polling it")
            time.sleep(self.poll)

    def _download(self, file_id: str | None) -> list[str]:
        if not file_id:
            return []
        return self._req("GET", f"/files/{file_id}/content").text.splitlines()

    # -- chat ---------------------------------------------------------------------------
    def chat_many(self, requests: Sequence[ChatRequest], desc: str | None = None) -> list[list[Completion]]:
        requests = list(requests)
        if not requests:
            return []
        stage = stage_of(desc)
        keys = [request_key(self.online.backend, self.model, r, endpoint=self.online.endpoint) for r in requests]
        by_id: dict[str, ChatRequest] = {}
        for key, req in zip(keys, requests):
            if key not in by_id and self.cache.get(key) is None:
                by_id[key] = req
        if by_id:
            self.usage.gate(list(by_id.values()), stage)
            self._run_jobs(by_id, stage, desc or stage)
        out = []
        for key in keys:
            hit = self.cache.get(key)
            if hit is None:  # failed in every job, no fallback: an empty reply the parsers drop
                out.append([Completion(text="", finish_reason="error")])
                continue
            # answered by this call's job (already accounted at batch price) or by an earlier run
            if key not in by_id:
                self.usage.add(hit, cached=True, stage=stage, mode="batch")
            out.append(hit)
        return out

    def _run_jobs(self, todo: dict[str, ChatRequest], stage: str, desc: str) -> None:
        left = self._jobs({k: request_body(self.model, r) for k, r in todo.items()}, desc, stage,
                          lambda lines, keys: import_results(lines, {k: todo[k] for k in keys}, self.cache,
                                                             self.usage, stage))
        if left and self.fallback == "online":
            self.online.chat_many([todo[k] for k in left], desc=desc)  # cached by the online client

    def _jobs(self, bodies: dict[str, dict[str, Any]], desc: str, stage: str, importer) -> list[str]:
        """Submit (or resume), poll and import jobs for `bodies` (cache key -> request body),
        resubmitting failed rows up to RESUBMITS times; the keys still unanswered."""
        todo = dict(bodies)
        for attempt in range(RESUBMITS + 1):
            digest = hashlib.sha256("\n".join(sorted(todo)).encode()).hexdigest()[:32]
            job = self.state.get(digest)
            if job is None:  # never submitted (or finished and imported): submit now, persist at once
                job = self.submit([batch_line(k, b) for k, b in todo.items()])
                job["stage"] = stage
                self.state.put(digest, job)
            final = self.wait(job["batch_id"], desc)
            done = importer(self._download(final.get("output_file_id")), set(todo))
            self._download(final.get("error_file_id"))  # fetched so the files can be inspected; rows stay missing
            self.state.drop(digest)
            todo = {k: b for k, b in todo.items() if k not in done}
            if not todo:
                break
        return list(todo)

    # -- fixed-choice questions: the same job path, a Choice in the cache -----------------
    def choose(self, messages: Sequence[Message], options: Sequence[str], prefill: str = ""):
        """One question alone goes online: a job of one row would wait up to 24h for 8 tokens."""
        return self.online.choose(messages, options, prefill)

    def choose_many(self, items, options: Sequence[str]) -> list[Choice]:
        """Fixed-choice questions (classify) as one batch job: the body the online client
        sends (max_tokens 8, logprobs), the Choice cached under the online client's key."""
        options, items = list(options), list(items)
        keys = [self.online.choose_key(m, options, p) for m, p in items]
        todo: dict[str, tuple] = {}
        for key, item in zip(keys, items):
            if key not in todo and self.cache.get_json(key) is None:
                todo[key] = item
        if todo:
            self.usage.gate([ChatRequest.make(m, max_tokens=8) for m, _ in todo.values()], "classify")
            left = self._jobs({k: self.online.choose_body(m, p) for k, (m, p) in todo.items()}, "classify",
                              "classify", lambda lines, ks: import_choices(lines, ks, options, self.cache, self.usage))
            if left and self.fallback == "online":
                self.online.choose_many([todo[k] for k in left], options)
        out = []
        for key in keys:
            hit = self.cache.get_json(key)
            if hit is None:  # failed in every job, no fallback: no option, as an unparsable reply
                out.append(Choice(option=None, scores={}, raw=""))
                continue
            if key not in todo:
                self.usage.add([], cached=True, stage=CLASSIFY.name, mode="batch")
            out.append(Choice(**hit))
        return out

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None
        self.online.close()


# -- servers without /v1/batches (vLLM): export the request file, import the results ------
class BatchExported(LLMError):
    """A stage's requests were written to the export file; the run stops there."""

    exit_code = 0


class ExportingClient(ChatClient):
    """Writes the requests the cache cannot answer to a Batch API request file (the format
    vLLM's `run_batch` reads) and stops the run; the cached ones are answered as usual.
    `datagen batch import` puts the results in the cache, and the next run gets one stage
    further."""

    def __init__(self, online, path: str | os.PathLike):
        self.online, self.path = online, Path(path)
        self.backend, self.model, self.usage, self.cache = "openai-batch", online.model, online.usage, online.cache
        self.returns_reasoning = online.returns_reasoning

    def chat_many(self, requests: Sequence[ChatRequest], desc: str | None = None) -> list[list[Completion]]:
        keys = [request_key(self.online.backend, self.model, r, endpoint=self.online.endpoint) for r in requests]
        todo = {k: r for k, r in zip(keys, requests) if self.cache.get(k) is None}
        if todo:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text("".join(batch_line(k, request_body(self.model, r)) + "\n" for k, r in todo.items()),
                                 encoding="utf-8")
            raise BatchExported(f"wrote {len(todo)} {stage_of(desc)} requests to {self.path}")
        out = [self.cache.get(k) for k in keys]
        for hit in out:
            self.usage.add(hit, cached=True, stage=stage_of(desc), mode="batch")
        return out

    def choose(self, messages, options, prefill: str = ""):
        return self.online.choose(messages, options, prefill)

    def choose_many(self, items, options):
        return self.online.choose_many(items, options)

    def close(self) -> None:
        self.online.close()


def request_from_body(body: dict[str, Any]) -> ChatRequest:
    """The ChatRequest a request-file body came from (a trailing assistant message is the prefill)."""
    msgs = list(body.get("messages") or [])
    prefill = ""
    if msgs and msgs[-1].get("role") == "assistant":
        prefill = msgs.pop()["content"]
    kw = {k: body[k] for k in ("temperature", "top_p", "max_tokens", "n", "stop", "seed") if body.get(k) is not None}
    return ChatRequest.make(msgs, prefill=prefill, **kw)


def import_files(requests_path, results_path, cache) -> tuple[int, int]:
    """Results of a request file (exported, then run by vLLM) into the cache: (imported, rows)."""
    by_id = {}
    for line in Path(requests_path).read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            by_id[row["custom_id"]] = request_from_body(row["body"])
    lines = Path(results_path).read_text(encoding="utf-8").splitlines()
    return len(import_results(lines, by_id, cache)), len(by_id)
