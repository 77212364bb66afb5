"""The stages of a run's LLM calls, named once.

A `Stage` is what a caller passes as `chat_many(..., desc=)`: its text is the progress
label ("round 3: instructions"), `name` is the cost ledger's line ("instructions") and
`reply` the shape of the placeholder a --dry-run answers with (llm/recording.py). The
progress bar, the ledger and the dry run read the same object, so no one parses the
label back.

A new stage is one constant here (or a plain string: its own name, answered with prose).
"""

from __future__ import annotations

# placeholder shapes for a dry run's replies
PROSE = "prose"
NUMBERED_TASKS = "numbered tasks"  # "1. Describe the …"
NUMBERED_QUESTIONS = "numbered questions"  # "1. Explain how the …?"
QA_PAIRS = "qa pairs"  # "Question: …\nAnswer: …"
SHORT_LINES = "short lines"  # a few one-word lines (labels)
SENTENCE = "sentence"  # an instance's input
EXAMPLES = "examples"  # "Example 1\nInput: …\nOutput: …", continuing the prefill
ANSWER = "answer"  # prose; a sentence quoted from the passage when the prompt has one


class Stage(str):
    """A stage of LLM calls; the string is its progress label (see the module doc)."""

    name: str
    reply: str

    def __new__(cls, name: str, reply: str = PROSE, label: str | None = None) -> "Stage":
        self = super().__new__(cls, label or name)
        self.name, self.reply = name, reply
        return self

    def at_round(self, rnd) -> "Stage":
        """The same stage, labelled with its round for the progress bar."""
        return Stage(self.name, self.reply, f"round {rnd}: {self.name}")

    def __reduce__(self):  # pickles (Ray) as a Stage, not as its label
        return Stage, (self.name, self.reply, str(self))


def as_stage(desc: str | None) -> Stage:
    """`desc` as a Stage: a plain string is a stage of its own name; None is "other"."""
    if isinstance(desc, Stage):
        return desc
    return Stage(desc or "other")


# Self-Instruct
INSTRUCTIONS = Stage("instructions", NUMBERED_TASKS)
CLASSIFY = Stage("classify")  # choose(): fixed options, no free text
CLASS_LABELS = Stage("class labels", SHORT_LINES)
INPUTS_PER_LABEL = Stage("inputs per label", SENTENCE)
INSTANCES = Stage("instances", EXAMPLES)
INSTANCE_INPUTS = Stage("instance inputs", SENTENCE)


def answers_turn(turn: int) -> Stage:
    return Stage(f"answers (turn {turn})", ANSWER)


def followups_turn(turn: int) -> Stage:
    return Stage(f"follow-ups (turn {turn})")


# Evol-Instruct, Magpie
EVOLVE = Stage("evolve")
ANSWERS = Stage("answers", ANSWER)
QUERIES = Stage("queries")  # raw completions: the dry run answers with a question
FOLLOWUP_QUERIES = Stage("follow-up queries")
# Self-QA, Self-KG
SELF_QA_QUESTIONS = Stage("self-qa questions", NUMBERED_QUESTIONS)
SELF_QA_ANSWERS = Stage("self-qa answers", ANSWER)
SELF_KG_PAIRS = Stage("self-kg pairs", QA_PAIRS)
# judges (datagen score, --judge-min, datagen eval)
JUDGE = Stage("judge")
JUDGE_REPAIR = Stage("judge repair")
