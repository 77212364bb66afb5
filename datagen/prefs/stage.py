"""`datagen prefs`: a version in, a preference version out.

Sample N responses per instruction (the responders take turns), judge every pair of them
in both orders, decide (pairs.py), and publish the kept pairs with their rejects as a
version of the preference dataset, with the manifest's usage.ledger covering every call.
Clients are passed in; this module never builds one."""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from typing import Any, Sequence

from ..eval.judge import pairwise_prompt, parse_verdict
from ..export import conversation
from ..llm.base import ChatClient, ChatRequest
from ..records import Record
from ..store import DatasetStore, DatasetVersion
from ..text import LANGS, detect_lang
from . import PrefsConfig, Turn
from .pairs import Comparison, Response, decide, pairs_to_judge

STAGE = "prefs"


def _lang(rec: Record) -> str:
    lang = rec.meta.get("lang")
    return lang if lang in LANGS else detect_lang(rec.instruction)


def turn_of(rec: Record) -> Turn:
    """The turn the responses answer: the last one of a conversation (instruction, then
    input, for a single-turn record), with what comes before it."""
    system, turns = conversation(rec)
    *history, (prompt, reference) = turns
    return Turn(system, tuple(history), prompt, reference)


_SPEAKERS = {"en": ("System", "User", "Assistant", "The conversation so far"), "zh": ("系统", "用户", "助手", "此前的对话")}


def judged_task(rec: Record, turn: Turn, lang: str) -> Record:
    """The task the judge compares answers to: a conversation's last user turn, with the
    turns before it as its input and the source's last answer as the reference."""
    if not turn.history and not turn.system:
        return rec
    sys_, user, assistant, title = _SPEAKERS.get(lang, _SPEAKERS["en"])
    lines = [f"{sys_}: {turn.system}"] if turn.system else []
    for u, a in turn.history:
        lines += [f"{user}: {u}", f"{assistant}: {a}"]
    return Record(instruction=turn.prompt, input=f"{title}:\n" + "\n".join(lines), output=turn.reference)


def sample_responses(responders: Sequence[ChatClient], records: Sequence[Record], cfg: PrefsConfig) -> list[list[Response]]:
    """cfg.responses responses per record; response k comes from responder k mod M, and each
    responder is asked for its share of a record in one request (n = its share)."""
    m = len(responders)
    share = [len(range(i, cfg.responses, m)) for i in range(m)]
    got: list[list[list]] = []
    for i, client in enumerate(responders):
        if not share[i]:
            got.append([[] for _ in records])
            continue
        reqs = [ChatRequest.make(turn_of(r).messages(), n=share[i], temperature=cfg.temperature,
                                 max_tokens=cfg.max_tokens, seed=_seed(cfg.seed, r.id, i)) for r in records]
        got.append(client.chat_many(reqs, desc=f"{STAGE} responses"))
    out = []
    for r_idx in range(len(records)):
        resp = []
        for k in range(cfg.responses):
            i = k % m
            comps = got[i][r_idx]
            c = comps[k // m] if k // m < len(comps) else None
            resp.append(Response(responders[i].model, c.text.strip() if c else "", c.finish_reason if c else "error"))
        out.append(resp)
    return out


def _seed(seed: int, *parts) -> int:
    h = hashlib.sha256(json.dumps([seed, *parts]).encode()).hexdigest()
    return int(h[:8], 16) % (2**31)


def judge_all(judge: ChatClient, records: Sequence[Record], responses: Sequence[Sequence[Response]]) -> list[list[Comparison]]:
    """Every pair of every record's responses, judged in both orders, all requests together."""
    reqs, index = [], []
    for r_idx, (rec, resp) in enumerate(zip(records, responses)):
        lang = _lang(rec)
        task = judged_task(rec, turn_of(rec), lang)
        for i, j in pairs_to_judge(len(resp)):
            if not (resp[i].text and resp[j].text):
                continue
            for a, b in ((i, j), (j, i)):
                msgs = [{"role": "user", "content": pairwise_prompt(task, resp[a].text, resp[b].text, lang)}]
                reqs.append(ChatRequest.make(msgs, temperature=0.0, max_tokens=256))
            index.append((r_idx, i, j))
    replies = judge.chat_many(reqs, desc=f"{STAGE} judge") if reqs else []
    out: list[list[Comparison]] = [[] for _ in records]
    for k, (r_idx, i, j) in enumerate(index):
        texts = tuple(replies[2 * k + o][0].text if replies[2 * k + o] else "" for o in (0, 1))
        out[r_idx].append(Comparison(i, j, (parse_verdict(texts[0]), parse_verdict(texts[1])), texts))
    return out


def pair_record(src: Record, source_ref: str, resp: list[Response], comps: list[Comparison], d) -> Record:
    """A preference record: prompt/chosen/rejected at the top level (instruction/input and
    output = chosen kept too, so the version still reads as SFT data), the judgement in meta."""
    chosen, rejected = resp[d.chosen], resp[d.rejected]
    direct = next(c for c in comps if {c.i, c.j} == {d.chosen, d.rejected})
    turn = turn_of(src)
    meta = {"generator": STAGE, "lang": _lang(src), "source": "machine",
            "source_record": {"ref": source_ref, "id": src.id},
            "chosen_model": chosen.model, "rejected_model": rejected.model,
            "pair_scores": {"chosen": d.scores[d.chosen], "rejected": d.scores[d.rejected], "all": d.scores},
            "margin": d.margin, "responses": len(resp),
            "judge": {"reasons": [_reason_text(t) for t in direct.replies], "verdicts": list(direct.verdicts)}}
    context = {**({"system": turn.system} if turn.system else {}),
               **({"history": [list(t) for t in turn.history]} if turn.history else {})}
    key = ([context] if context else []) + [turn.prompt, chosen.text, rejected.text]
    rid = hashlib.sha256(json.dumps(key, ensure_ascii=False).encode()).hexdigest()[:16]
    # a conversation stays one, its last answer the chosen one (the version still reads as SFT
    # data); its flat fields stay its first exchange (records.py)
    messages = turn.messages() + [{"role": "assistant", "content": chosen.text}] if turn.history else None
    output = turn.history[0][1] if turn.history else chosen.text
    return Record(instruction=src.instruction, input=src.input, output=output, id=rid, meta=meta,
                  messages=messages, extra={**context, "prompt": turn.prompt, "chosen": chosen.text,
                                            "rejected": rejected.text})


def _reason_text(reply: str) -> str:
    """The judge's reasons: its reply without the verdict line."""
    lines = [ln for ln in (reply or "").strip().splitlines() if ln.strip()]
    return "\n".join(lines[:-1] if lines and parse_verdict(lines[-1]) else lines).strip()


def build_pairs(records: Sequence[Record], source_ref: str, responders: Sequence[ChatClient], judge: ChatClient,
                cfg: PrefsConfig) -> tuple[list[Record], list[dict[str, Any]]]:
    """(pairs, rejects) for `records`; a conversation's pair is for its last turn, in its context."""
    rejects: list[dict[str, Any]] = []
    todo = []
    for r in records:
        if not conversation(r)[1]:
            rejects.append({"reason": "no_turn", "filter": STAGE, "stage": STAGE, "record": r.to_dict()})
        else:
            todo.append(r)
    responses = sample_responses(responders, todo, cfg)
    judged = judge_all(judge, todo, responses)
    pairs = []
    for rec, resp, comps in zip(todo, responses, judged):
        d = decide(resp, comps, cfg.min_margin)
        if d.reason is None:
            pairs.append(pair_record(rec, source_ref, resp, comps, d))
            continue
        detail = {**d.detail, "scores": d.scores,
                  "responses": [{"model": x.model, "text": x.text[:500]} for x in resp],
                  "judged": [{"pair": [c.i, c.j], "outcome": c.outcome, "verdicts": list(c.verdicts)} for c in comps]}
        rejects.append({"reason": d.reason, "filter": STAGE, "stage": STAGE, "record": rec.to_dict(),
                        "detail": detail})
    return pairs, rejects


def merged_usage(clients: Sequence[ChatClient]) -> dict[str, Any]:
    """The usage of several clients (each once) as one manifest `usage`, ledgers merged."""
    seen, uniq = set(), []
    for c in clients:
        if id(c) not in seen:
            seen.add(id(c))
            uniq.append(c)
    usage: Counter = Counter()
    for c in uniq:
        usage.update(c.usage.as_dict())
    with_ledger = [c for c in uniq if c.usage.ledger is not None]
    ledgers = [c.usage.ledger.as_dict() for c in with_ledger]
    out: dict[str, Any] = dict(usage)
    if ledgers:
        total: dict[str, Any] = {}
        for led in ledgers:
            for k, v in led["total"].items():
                if k == "dollars":
                    total[k] = None if v is None or total.get(k, 0) is None else total.get(k, 0) + v
                else:
                    total[k] = total.get(k, 0) + v
        out["ledger"] = {"currency": "USD", "stages": [row for led in ledgers for row in led["stages"]],
                         "total": total, "price": "; ".join(_price_text(c.model, led.get("price"))
                                                           for c, led in zip(with_ledger, ledgers))}
    return out


def _price_text(model: str, price) -> str:
    """One model's price as the report shows a ledger's (several models: one line each)."""
    if isinstance(price, dict):
        return f"{model}: ${price['input_per_1m']}/1M in, ${price['output_per_1m']}/1M out (as of {price['as_of']})"
    return f"{model}: {price}"


def make_clients(cfg: PrefsConfig, base) -> tuple[list[ChatClient], ChatClient, list[ChatClient]]:
    """(responders, judge, every client to close) from `cfg`'s --model list and judge, each
    an LLMConfig `base` with its model (and base URL) laid over; one client per (model, URL)."""
    from ..llm import make_client, with_overrides

    made: dict[tuple, ChatClient] = {}

    def client_for(model: str, url: str | None) -> ChatClient:
        if (model, url) not in made:
            made[(model, url)] = make_client(with_overrides(base, model=model, base_url=[url] if url else None))
        return made[(model, url)]

    specs = cfg.model_specs(base.resolved_model())
    try:
        responders = [client_for(m, u) for m, u in specs]
        judge = client_for(cfg.judge_model or specs[0][0], cfg.judge_base_url or specs[0][1])
    except BaseException:
        for c in made.values():
            c.close()
        raise
    return responders, judge, list(made.values())


def make_preferences(store: DatasetStore, ref: str, cfg: PrefsConfig, responders: Sequence[ChatClient],
                     judge: ChatClient) -> tuple[DatasetVersion, dict[str, Any]]:
    """Build pairs from version `ref` and publish them as the next version of `cfg.into`
    (default NAME-prefs). Returns the version and what was done."""
    src = store.resolve(ref)
    records = src.records()[: cfg.limit] if cfg.limit else src.records()
    into = cfg.into or f"{src.name}-prefs"
    if into == src.name:
        from ..errors import ConfigError

        raise ConfigError(f"prefs: --into {into} is the source dataset; pairs go to a dataset of their own "
                          "(a later run would refresh them as instruction data)")
    t0 = time.perf_counter()
    pairs, rejects = build_pairs(records, src.ref, responders, judge, cfg)
    dropped = Counter(r["reason"] for r in rejects)
    info = {"source": src.ref, "responses": cfg.responses, "min_margin": cfg.min_margin,
            "models": [c.model for c in responders], "judge": judge.model,
            "method": "pairwise, both orders; Copeland score; docs/preferences.md",
            "pairs": len(pairs), "seconds": round(time.perf_counter() - t0, 3)}
    langs = Counter(p.meta["lang"] for p in pairs)
    manifest = {"stage": STAGE, "generator": STAGE, "kind": "preference", "source": src.ref,
                "model": ", ".join(dict.fromkeys(c.model for c in responders)), "backend": judge.backend,
                "lang": langs.most_common(1)[0][0] if langs else src.manifest.get("lang"), "prefs": info,
                "funnel": {"candidates": len(records), "kept": len(pairs), "dropped": dict(dropped.most_common())},
                "usage": merged_usage([*responders, judge])}
    with store.lock(into):
        store.clean_temp(into)
        latest = store.latest(into)
        version = store.publish(into, pairs, rejects, manifest, parent=latest.version if latest else None)
    return version, info
