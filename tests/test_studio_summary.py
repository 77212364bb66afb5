"""datagen/studio/summary.py: the dashboard's rows. One unreadable version is shown as
such, beside every other dataset, instead of turning the whole dashboard into an error."""

from studio_store import make_store

from datagen.studio.summary import datasets


def test_an_unreadable_manifest_is_one_row_not_the_whole_dashboard(tmp_path):
    store = make_store(tmp_path / "store")
    (store.root / "demo" / "v0001" / "manifest.json").write_text("{not json", encoding="utf-8")
    rows = {d["name"]: d for d in datasets(store)}
    assert set(rows) == {"demo", "docs-qa", "kg"}
    bad, good = rows["demo"]["versions"]
    assert bad["version"] == "v0001" and bad["error"].endswith("manifest.json:1: invalid JSON: Expecting property "
                                                               "name enclosed in double quotes")
    assert good["version"] == "v0002" and good["records"] == 33 and "error" not in good
    assert rows["kg"]["versions"][0]["records"] == 1
