"""A judge threshold inside generation (--judge-min): the ScoreGate filter, and Self-Instruct
against the stub server whose judge rates one task's instances low."""

import json
import threading

from datagen.filters import build_instance_chain
from datagen.filters.gate import ScoreGate
from datagen.records import Record
from stub_server import StubLLMServer
from test_self_instruct import NEW_TASKS, Script, run

JUDGE_CUE = "We would like to request your feedback"


class Rater:
    """A scorer: the value is the number of words of the output, capped at 5; outputs
    containing "???" cannot be scored. Counts the records it was asked about."""

    def __init__(self):
        self.asked: list[str] = []
        self.threads: set[str] = set()

    def __call__(self, records):
        self.threads.add(threading.current_thread().name)
        self.asked += [r.output for r in records]
        return [{"value": None, "error": "judge_failed"} if "???" in r.output
                else {"value": min(5, len(r.output.split())), "reason": "words"} for r in records]


def rec(output: str, instruction: str = "Say something.") -> Record:
    return Record(instruction=instruction, output=output)


def test_gate_thresholds_failures_and_scores_in_meta():
    rater = Rater()
    gate = ScoreGate(rater, minimum=4)
    recs = [rec("one two three four five"), rec("one two"), rec("what ???"), rec("one two three four")]
    assert gate.check_many(recs) == [None, "below_threshold", "judge_failed", None]
    assert [r.meta["scores"]["judge"]["value"] for r in recs] == [5, 2, None, 4]
    assert gate.last_details[1] == {"score": 2, "minimum": 4, "why": "words"}
    assert len(rater.asked) == 4


def test_prefetch_from_another_thread_is_used_once():
    rater = Rater()
    gate = ScoreGate(rater, minimum=3)
    recs = [rec("a b c"), rec("a b c"), rec("a")]  # the same content twice: scored once
    t = threading.Thread(target=gate.prefetch, args=(recs,), name="round-worker")
    t.start()
    t.join()
    assert rater.asked == ["a b c", "a"] and rater.threads == {"round-worker"}
    assert gate.check_many(recs) == [None, None, "below_threshold"]
    assert len(rater.asked) == 2  # the check used the prefetched scores
    gate.check_many([rec("a b c")])  # checked before: asked again, not served stale
    assert len(rater.asked) == 3


def test_chain_prefetch_judges_only_what_the_rules_keep():
    rater = Rater()
    chain = build_instance_chain()
    chain.filters.append(ScoreGate(rater, minimum=1))
    recs = [rec(""), rec("As an AI language model, I cannot help."), rec("a fine answer"),
            Record(instruction="Repeat it.", input="same", output="same")]
    chain.prefetch(recs)
    assert rater.asked == ["a fine answer"]  # empty output, refusal, input==output... never judged
    verdicts = chain.check_many(recs, keep=False)
    assert [v.reason for v in verdicts][:2] == ["empty_output", "refusal"] and not verdicts[3].kept
    assert verdicts[2].kept and len(rater.asked) == 1


def judge_low_for_limerick(body, user):
    """The judge's reply: 2 for the limerick task's instances, 5 for the rest."""
    low = "limerick" in user
    return json.dumps({"score": 2 if low else 5, "reason": "off" if low else "fine"})


def script_with_judge(**overrides) -> Script:
    script = Script(**overrides)
    plain = script.__call__

    def respond(body):
        user = [m["content"] for m in body["messages"] if m["role"] == "user"][-1]
        if JUDGE_CUE in user:
            script.seen.append(("judge", user))
            return judge_low_for_limerick(body, user)
        return plain(body)

    return respond, script


def test_self_instruct_pool_grows_only_with_tasks_the_judge_passes():
    respond, script = script_with_judge()
    with StubLLMServer(respond) as stub:
        gen, result = run(stub, num=2, batch=1, judge_min=4, patience=2)
    assert any(k == "judge" for k, _ in script.seen)
    # the limerick task was made and judged 2: its instances are rejects, with their scores
    low = [r for r in result.rejects if r["reason"] == "below_threshold"]
    assert low and all(NEW_TASKS[1] == r["record"]["instruction"] for r in low)
    assert all(r["record"]["meta"]["scores"]["judge"]["value"] == 2 and r["filter"] == "judge" for r in low)
    # kept records were judged 5; the task pool holds only tasks with kept records
    assert result.kept and all(r.meta["scores"]["judge"]["value"] == 5 for r in result.kept)
    assert NEW_TASKS[1] not in [instr for _, instr in gen.machine]
    assert {instr for _, instr in gen.machine} == {r.instruction for r in result.kept}
    judge = next(st for st in result.ledger["stages"] if st["stage"] == "judge")  # in the run's ledger
    assert judge["requests"] == 3  # the prime task's 2 instances and the limerick's 1


def test_without_judge_min_nothing_is_judged():
    respond, script = script_with_judge()
    with StubLLMServer(respond) as stub:
        _, result = run(stub, num=2, batch=1)
    assert not any(k == "judge" for k, _ in script.seen)
    assert all("scores" not in r.meta for r in result.kept)
