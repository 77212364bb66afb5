"""Selection by score: threshold, budget, diversity skip; the published version's lineage."""

from __future__ import annotations

import numpy as np
import pytest

from datagen.errors import ConfigError
from datagen.llm import LLMConfig, make_client
from datagen.quality import ScoreConfig
from datagen.quality.select import SelectConfig, select_records
from datagen.quality.stage import score_version, select_version
from datagen.records import Record
from datagen.store import DatasetStore


def scored(instruction, value, name="judge", **extra):
    return Record(instruction=instruction, output="o " + instruction,
                  meta={"scores": {name: {"value": value, **extra}}})


def topic_encoder(texts):
    """Texts about the same first word embed identically; different first words are orthogonal."""
    words = sorted({t.split()[0] for t in texts})
    out = np.zeros((len(texts), len(words) + 1), dtype=np.float32)
    for i, t in enumerate(texts):
        out[i, words.index(t.split()[0])] = 1.0
    return out


def test_threshold_keeps_order_and_rejects_with_scores():
    recs = [scored("a one", 5), scored("b two", 3), scored("c three", 4.5), scored("d four", None, error="judge_failed")]
    kept, rejects, counts = select_records(recs, SelectConfig(by="judge", min=4.5))
    assert [r.instruction for r in kept] == ["a one", "c three"]
    assert {(j["reason"], j["record"]["instruction"], j["detail"]["score"]) for j in rejects} == {
        ("below_threshold", "b two", 3), ("judge_failed", "d four", None)}
    assert counts["selected"] == 2 and counts["below_threshold"] == 1 and counts["judge_failed"] == 1
    assert all(j["stage"] == "select" for j in rejects)


def test_budget_takes_the_best_first():
    recs = [scored(f"t{i} x", v) for i, v in enumerate([2, 5, 3, 4, 1])]
    kept, rejects, counts = select_records(recs, SelectConfig(by="judge", budget=2))
    assert [r.instruction for r in kept] == ["t1 x", "t3 x"]  # 5 and 4, in original order
    assert sorted(j["detail"]["score"] for j in rejects if j["reason"] == "budget") == [1, 2, 3]
    assert counts["budget"] == 3


def test_perplexity_is_lower_better():
    recs = [scored(f"p{i} x", v, "perplexity") for i, v in enumerate([30.0, 5.0, 12.0])]
    kept, _, _ = select_records(recs, SelectConfig(by="perplexity", budget=1))
    assert kept[0].instruction == "p1 x"
    kept, rej, _ = select_records(recs, SelectConfig(by="perplexity", max=15))
    assert [r.instruction for r in kept] == ["p1 x", "p2 x"] and rej[0]["reason"] == "below_threshold"


def test_diversity_skips_near_duplicates_of_selected():
    recs = [scored("cats are nice", 5), scored("cats are great", 4.8), scored("dogs bark", 4.0),
            scored("fish swim", 3.0)]
    kept, rejects, counts = select_records(recs, SelectConfig(by="judge", budget=3, diversity=0.9),
                                           encoder=topic_encoder)
    # the second cat is skipped, so the budget reaches the fish
    assert [r.instruction for r in kept] == ["cats are nice", "dogs bark", "fish swim"]
    (skip,) = rejects
    assert skip["reason"] == "not_diverse" and skip["detail"]["nearest"] == "cats are nice"
    assert skip["detail"]["cosine"] == pytest.approx(1.0) and skip["detail"]["score"] == 4.8
    assert counts["not_diverse"] == 1 and counts["budget"] == 0


def test_select_config_checks():
    with pytest.raises(ConfigError, match="threshold"):
        SelectConfig(by="judge")
    with pytest.raises(ConfigError, match="by: must be one of"):
        SelectConfig(by="vibes", min=1)
    with pytest.raises(ConfigError, match="budget"):
        SelectConfig(by="judge", budget=0)


def test_score_then_select_publishes_versions_with_lineage(stub, tmp_path):
    store = DatasetStore(tmp_path / "store")
    base = [Record(instruction=f"Explain concept {i}.", output=f"Concept {i} is…") for i in range(6)]
    with store.lock("demo"):
        store.publish("demo", base, [], {"generator": "self-instruct", "model": "gen-model"})
    values = {0: 5, 1: 2, 2: 4, 3: 5, 4: 1}  # concept 5: unreadable twice

    def answer(body):
        first = body["messages"][0]["content"]
        i = next(k for k in range(6) if f"concept {k}." in first)
        return f'{{"score": {values[i]}, "reason": "r{i}"}}' if i in values else "hmm"
    stub.default = answer
    cfg = LLMConfig(backend="openai", base_url=[stub.url], model="judge-model", max_retries=0,
                    cache_path=str(tmp_path / "c.sqlite"))
    client = make_client(cfg)
    v2, info = score_version(store, "demo", ScoreConfig(scorer="judge"), client=client, judge_cfg=cfg)
    client.close()
    assert v2.version == "v0002" and v2.manifest["parent"] == "v0001"
    assert v2.manifest["stage"] == "score" and v2.manifest["generator"] == "self-instruct"
    assert v2.manifest["score"]["scorer"] == "judge" and v2.manifest["score"]["model"] == "judge-model"
    assert v2.manifest["score"]["llm"]["model"] == "judge-model"
    assert v2.manifest["usage"]["requests"] == 7  # 6 asks + 1 repair
    assert info["failed"] == 1 and info["errors"] == {"judge_failed": 1}
    assert [r.meta["scores"]["judge"]["value"] for r in v2.records()] == [5, 2, 4, 5, 1, None]

    v3, sel = select_version(store, "demo", SelectConfig(by="judge", min=4))
    assert v3.manifest["parent"] == "v0002" and v3.manifest["stage"] == "select"
    s = v3.manifest["selection"]
    assert s["parent"] == "demo@v0002" and s["scorer"] == "judge" and s["min"] == 4 and s["budget"] is None
    assert s["counts"] == {"candidates": 6, "selected": 3, "below_threshold": 2, "budget": 0, "not_diverse": 0,
                           "judge_failed": 1}
    assert [r.instruction for r in v3.records()] == ["Explain concept 0.", "Explain concept 2.", "Explain concept 3."]
    rej = v3.rejects()
    assert {(j["reason"], j["detail"]["score"]) for j in rej} == {("below_threshold", 2), ("below_threshold", 1),
                                                                 ("judge_failed", None)}
    assert all(j["record"]["meta"]["scores"]["judge"] for j in rej)  # the scores travel with the rejects
    assert v3.manifest["counts"]["records"] == 3 and v3.manifest["counts"]["rejects"] == 3
    assert store.verify("demo@v3")


def test_select_by_a_score_no_record_has_names_the_scores_present(tmp_path):
    store = DatasetStore(tmp_path / "store")
    with store.lock("demo"):
        store.publish("demo", [scored("a one", 0.7, name="ifd"), scored("b two", 0.2, name="ifd")], [], {})
    with pytest.raises(ConfigError, match=r"no record has a 'judge' score; scores present: ifd"):
        select_version(store, "demo", SelectConfig(by="judge", min=4.5))
    with store.lock("plain"):
        store.publish("plain", [Record("never scored")], [], {})
    with pytest.raises(ConfigError, match=r"scores present: none \(run `datagen score` first\)"):
        select_version(store, "plain", SelectConfig(by="judge", min=4.5))
    assert store.resolve("demo").version == "v0001" and store.resolve("plain").version == "v0001"


def test_an_empty_selection_publishes_nothing_unless_allowed(tmp_path):
    store = DatasetStore(tmp_path / "store")
    with store.lock("demo"):
        store.publish("demo", [scored("a one", 2), scored("b two", 3)], [], {})
    version, info = select_version(store, "demo", SelectConfig(by="judge", min=4.5))
    assert version is None and info["counts"]["selected"] == 0
    assert store.resolve("demo").version == "v0001"  # latest is still the data
    version, _ = select_version(store, "demo", SelectConfig(by="judge", min=4.5, allow_empty=True))
    assert version.version == "v0002" and version.records() == []
