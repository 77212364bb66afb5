"""Magpie's pure pieces: the pre-query template cut from a chat template, and the
instruction parsed from the model's continuation (Xu et al. 2024).

An aligned model, given its chat template only up to the start of a user turn, writes a
user query: render a conversation whose last user message is a placeholder, cut at the
placeholder, feed that as raw text, and the continuation up to the end-of-turn token is
an instruction. With history before the placeholder the same cut gives a follow-up turn.
"""

from __future__ import annotations

from typing import Callable, Sequence

from ...errors import ConfigError

PLACEHOLDER = "\ue000MAGPIE_QUERY\ue000"  # private-use characters: never in a real template
CHATML_USER = "<|im_start|>user\n"
# end-of-turn (and start-of-next-turn) markers of common chat templates: a continuation
# is cut at the first one, whether or not the server stopped there
END_MARKERS = ("<|im_end|>", "<|im_start|>", "<|eot_id|>", "<|start_header_id|>", "<|end|>", "<|user|>",
               "<|assistant|>", "<end_of_turn>", "<start_of_turn>", "</s>", "<|endoftext|>", "[/INST]")

Renderer = Callable[[list[dict]], str]


def conversation(system: str | None, history: Sequence[tuple[str, str]] = ()) -> list[dict]:
    """Messages: the system prompt (if any), the (user, assistant) turns so far, then the
    placeholder user turn."""
    msgs = [{"role": "system", "content": system}] if system else []
    for user, assistant in history:
        msgs += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    return msgs + [{"role": "user", "content": PLACEHOLDER}]


def cut_at_placeholder(rendered: str) -> str:
    """The rendered conversation up to the placeholder: the pre-query template."""
    at = rendered.find(PLACEHOLDER)
    if at < 0:
        raise ConfigError("the chat template does not render the user message (no place to cut for Magpie)")
    return rendered[:at]


def pre_query(render: Renderer, system: str | None = None, history: Sequence[tuple[str, str]] = ()) -> str:
    """The raw prompt that makes the model write the next user turn."""
    return cut_at_placeholder(render(conversation(system, history)))


def chatml(messages: Sequence[dict]) -> str:
    """ChatML, as Qwen, SmolLM and many others render a conversation."""
    return "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)


def tokenizer_renderer(tok) -> Renderer:
    """Render with a Hugging Face tokenizer's own chat template."""
    if not getattr(tok, "chat_template", None):
        raise ConfigError("the tokenizer has no chat template: Magpie needs an aligned (chat) model's tokenizer")

    def render(messages: list[dict]) -> str:
        try:
            return tok.apply_chat_template(messages, tokenize=False)
        except Exception as e:  # noqa: BLE001 - jinja raises its own errors (e.g. no system role)
            raise ConfigError(f"the chat template cannot render this conversation: {e}") from None

    return render


def fixed_renderer(template: str) -> Renderer:
    """A pre-query template given as text: one first turn, no system prompt; ChatML's
    user header gets the whole ChatML format (system prompt and follow-up turns)."""
    if template == CHATML_USER:
        return chatml

    def render(messages: list[dict]) -> str:
        if len(messages) > 1:
            raise ConfigError("a system prompt or --turns > 1 needs the model's chat template: give "
                              "--tokenizer PATH (a local tokenizer folder) or a ChatML --pre-query-template")
        return template + PLACEHOLDER

    return render


def stops_for(template: str, eos: str | None = None) -> list[str]:
    """Stop strings for the query: the end-of-turn markers the template uses, and eos."""
    found = [m for m in END_MARKERS if m in template]
    if eos and eos not in found:
        found.append(eos)
    return found or ["<|im_end|>"]


def parse_instruction(text: str) -> str:
    """The user query from a continuation: cut at the first end-of-turn marker, trimmed.
    An empty string means the model wrote no query."""
    cut = len(text)
    for m in END_MARKERS:
        at = text.find(m)
        if 0 <= at < cut:
            cut = at
    return text[:cut].strip()
