"""The studio over a 100k-record version: index build, paging, search, memory.

Writes bench/results/studio.json:
- index_build_s_per_100k: indexing a 100k-record version once (SQLite + FTS5 trigram);
- page_1_ms / page_1000_ms: a page of 50 records from the version's JSON API over HTTP
  (median of interleaved requests; the limit: page 1 < 100 ms, page 1000 <= 2x page 1);
- search_*_ms: English, Chinese (trigram) and a two-character Chinese query (LIKE scan);
  the limit: < 500 ms, held for `search_filtered_ms` too (a broad word + language + score
  range, sorted by another score: 30% of the version matches) and `sort_ms` (page 1 of the
  whole version sorted by a score);
- memory: Python's peak allocation building the index and serving page 1000, for a 10k and
  a 100k version (flat: it should not grow with the version's size).
"""

import os
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import write_result  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "studio.json"
N = int(os.environ.get("BENCH_STUDIO_N", "100000"))
EN = [f"word{i}" for i in range(4000)] + ["river", "mountain", "explain", "describe", "classify"]
ZH = list("长城黄河中国历史文化科学技术经济社会自然地理语言文学艺术音乐数学物理化学生物天气城市")


def records(n, seed=0):
    from datagen.records import Record

    rng = random.Random(seed)
    for i in range(n):
        zh = i % 4 == 0
        if zh:
            instr = "请解释" + "".join(rng.choices(ZH, k=12))
            out = "".join(rng.choices(ZH, k=120))
        else:
            instr = "Explain " + " ".join(rng.choices(EN, k=10))
            out = " ".join(rng.choices(EN, k=60))
        yield Record(instruction=instr, output=out, meta={
            "generator": "self-instruct", "lang": "zh" if zh else "en",
            "task_type": "classification" if i % 7 == 0 else "generation",
            "scores": {"judge": {"value": float(1 + i % 5), "reason": "ok"}, "ifd": {"value": rng.random()}}})


def publish(store, name, n):
    with store.lock(name):
        return store.publish(name, records(n), [], {"generator": "self-instruct", "counts": {"added": n}})


def median_ms(samples):
    return round(statistics.median(samples) * 1000, 2)


def main():
    import httpx

    from datagen.store import DatasetStore
    from datagen.studio import create_app
    from datagen.studio.index import build_index, index_path
    from studio_store import live_server

    tmp = Path(tempfile.mkdtemp(prefix="bench-studio-"))
    store = DatasetStore(tmp / "store")
    t = time.perf_counter()
    big = publish(store, "big", N)
    small = publish(store, "small", N // 10)
    publish_s = time.perf_counter() - t

    t = time.perf_counter()
    build_index(big, index_path(big))
    build_s = time.perf_counter() - t
    mem = {}
    for label, dv in (("small", small), ("big", big)):
        path = index_path(dv).with_suffix(".mem.sqlite")
        tracemalloc.start()
        build_index(dv, path)
        mem[f"index_build_peak_mb_{label}"] = round(tracemalloc.get_traced_memory()[1] / 2**20, 2)
        tracemalloc.stop()
        path.unlink()
    build_index(small, index_path(small))
    result = {"records": N, "publish_s": round(publish_s, 2), "index_build_s": round(build_s, 2),
              "index_build_s_per_100k": round(build_s * 100_000 / N, 2),
              "index_mb": round(index_path(big).stat().st_size / 2**20, 1),
              "data_mb": round(big.data_path.stat().st_size / 2**20, 1)}

    with live_server(create_app(store.root)) as url:
        c = httpx.Client(base_url=url, timeout=30)
        api = "/api/datasets/big/v0001"
        last = N // 50
        c.get(api).raise_for_status()  # warm: facets and medians are computed once per version
        p1, pn = [], []
        for _ in range(30):  # interleaved, so drift in the machine's load hits both alike
            for page, acc in ((1, p1), (last, pn)):
                t = time.perf_counter()
                r = c.get(api, params={"page": page, "per_page": 50})
                acc.append(time.perf_counter() - t)
                assert r.status_code == 200 and len(r.json()["rows"]) == 50
        result.update(page_1_ms=median_ms(p1), page_last=last, page_last_ms=median_ms(pn),
                      page_ratio=round(statistics.median(pn) / statistics.median(p1), 2))
        searches = {"search_en_ms": "river", "search_zh_ms": "黄河中", "search_zh_2chars_ms": "长城",
                    "search_filtered_ms": "explain", "sort_ms": ""}
        for key, q in searches.items():
            ts = []
            for _ in range(7):
                params = {"q": q} if q else {}
                if key == "search_filtered_ms":
                    params.update(score="judge", min=4, lang="en", sort="ifd")
                if key == "sort_ms":
                    params.update(sort="ifd")  # the whole version sorted by a score
                t = time.perf_counter()
                r = c.get(api, params=params)
                ts.append(time.perf_counter() - t)
                assert r.status_code == 200
            result[key] = median_ms(ts)
            result[key.replace("_ms", "_hits")] = r.json()["total"]

    from datagen.studio.views import version_view

    for label, name in (("small", "small"), ("big", "big")):
        pages = max(1, (N // (10 if label == "small" else 1)) // 50)
        version_view(store, name, "v0001", {"page": str(pages)})
        tracemalloc.start()
        version_view(store, name, "v0001", {"page": str(pages)})
        version_view(store, name, "v0001", {"page": "1", "q": "river"})
        mem[f"serve_peak_mb_{label}"] = round(tracemalloc.get_traced_memory()[1] / 2**20, 2)
        tracemalloc.stop()
    result["memory"] = mem
    result["limits"] = {"page_1_ms": 100, "page_ratio": 2.0, "search_ms": 500}
    result["within_limits"] = (result["page_1_ms"] < 100 and result["page_ratio"] <= 2.0
                               and max(result[k] for k in searches) < 500)
    write_result(result, OUT)


if __name__ == "__main__":
    main()
