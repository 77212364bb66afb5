"""The one chain builder with a parent version and a gate: filters/parent.py, filters/__init__.py."""

from __future__ import annotations

from datagen.filters import FilterConfig, build_chain, build_instance_chain
from datagen.filters.base import Filter
from datagen.filters.parent import ParentDuplicate
from datagen.records import Record

PARENT = [Record("Give three tips for staying healthy."), Record("Describe the water cycle in simple words.")]


class Gate(Filter):
    """A stand-in judge: drops outputs saying 'bad'; records what it was asked about."""

    name = "judge"

    def __init__(self):
        self.seen: list[str] = []

    def check(self, record):
        self.seen.append(record.instruction)
        return "below_threshold" if "bad" in record.output else None


def test_parent_duplicates_first_and_parent_in_the_pools():
    chain = build_chain(FilterConfig(embed=None), "en", parent=PARENT)
    assert isinstance(chain.filters[0], ParentDuplicate)
    vs = chain.check_many([Record("give three tips for  staying healthy."),  # the parent's, spaced and cased
                           Record("Give three good tips for staying healthy."),  # near the parent: ROUGE pool
                           Record("Write a short poem about autumn leaves."),
                           Record("Write a short poem about autumn leaves.")])
    assert [(v.reason, v.filter) for v in vs] == [("parent_duplicate", "parent_duplicate"), ("rouge_dup", "rouge"),
                                                  (None, None), ("exact_duplicate", "parent_duplicate")]


def test_no_parent_no_parent_filter_and_an_empty_parent_still_dedups_the_run():
    assert not any(isinstance(f, ParentDuplicate) for f in build_chain(FilterConfig(embed=None), "en").filters)
    chain = build_chain(FilterConfig(embed=None, rouge=None), "en", parent=[])
    vs = chain.check_many([Record("Write a short poem about autumn leaves.")] * 2)
    assert [v.reason for v in vs] == [None, "exact_duplicate"]


def test_gate_comes_last_and_is_asked_only_about_what_the_rules_kept():
    gate = Gate()
    chain = build_chain(FilterConfig(embed=None), "en", parent=PARENT, gate=gate)
    assert chain.filters[-1] is gate
    vs = chain.check_many([Record("Give three tips for staying healthy."), Record("Draw a picture of a cat."),
                           Record("Explain how a rainbow forms.", output="bad"),
                           Record("Name the planets of the solar system.", output="fine")])
    assert [v.reason for v in vs] == ["parent_duplicate", "blacklist", "below_threshold", None]
    # the stateless rules run over the batch first (the pools decide later, in order)
    assert gate.seen == ["Give three tips for staying healthy.", "Explain how a rainbow forms.",
                         "Name the planets of the solar system."]


def test_instance_chain_takes_the_gate_last():
    gate = Gate()
    chain = build_instance_chain(FilterConfig(), "en", gate=gate)
    assert chain.filters[-1] is gate
    vs = chain.check_many([Record("Add the numbers.", input="1 2", output=""),
                           Record("Add the numbers.", input="1 2", output="3 bad"),
                           Record("Add the numbers.", input="2 2", output="4")])
    assert [v.reason for v in vs] == ["empty_output", "below_threshold", None]
    assert len(gate.seen) == 2  # not the empty output
