"""Decontamination (datagen/filters/decontam.py): each benchmark row's prompt part is matched
on its own, contained whole or sharing a 13-gram window, in English and Chinese."""

import json

from click.testing import CliRunner

from datagen.cli import main
from datagen.filters.decontam import Decontaminate
from datagen.records import Record


def bench(tmp_path):
    f = tmp_path / "bench.jsonl"
    rows = [{"instruction": "Name the largest planet in our solar system.", "output": "Jupiter."},
            {"instruction": "世界上最长的河流是哪一条？", "output": "尼罗河。"},
            {"question": "What is the boiling point of water at sea level in degrees Celsius, measured under "
                         "standard atmospheric pressure?", "answer": "100"}]
    f.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    return f


def test_a_copied_short_question_with_another_answer_is_caught(tmp_path):
    d = Decontaminate([bench(tmp_path)])
    recs = [Record(instruction="Name the largest planet in our solar system.", output="Saturn is the largest."),
            Record(instruction="世界上最长的河流是哪一条？", output="亚马逊河。"),
            # a 13-gram window of a long question, reworded around it
            Record(instruction="Tell me: what is the boiling point of water at sea level in degrees Celsius, "
                               "measured roughly?", output="About 100."),
            Record(instruction="Name the smallest planet in our solar system.", output="Mercury."),
            Record(instruction="世界上最高的山峰是哪一座？", output="珠穆朗玛峰。")]
    assert d.check_many(recs) == ["contaminated", "contaminated", "contaminated", None, None]
    assert d.last_details[0]["benchmark_line"] == 1 and "largest planet" in d.last_details[0]["matched"]


def test_the_documented_decontaminate_form_works(tmp_path):
    data = tmp_path / "in.jsonl"
    data.write_text("\n".join(json.dumps(r.to_dict(), ensure_ascii=False) for r in [
        Record(instruction="Name the largest planet in our solar system.", output="Saturn."),
        Record(instruction="Write a short poem about the quiet harbor at dawn.", output="Gulls drift over calm water."),
        Record(instruction="Recite this exact benchmark line from the text file please.", output="ok"),
    ]) + "\n", encoding="utf-8")
    txt = tmp_path / "b.txt"
    txt.write_text("recite this exact benchmark line from the text file\n", encoding="utf-8")
    res = CliRunner().invoke(main, ["filter", str(data), "--out", str(tmp_path / "out.jsonl"),
                                    "--decontaminate", str(bench(tmp_path)), "--decontaminate", str(txt)])
    assert res.exit_code == 0, res.output
    kept = [json.loads(line)["instruction"] for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert kept == ["Write a short poem about the quiet harbor at dawn."]
