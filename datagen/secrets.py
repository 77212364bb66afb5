"""Secrets never reach the screen: `redact(text)` before printing any message, log line
or exception text.

A server may quote the key back ("Incorrect API key provided: sk-abc…"), an SDK may put
the Authorization header in an exception. `redact` replaces the keys datagen knows of
(`remember` them when read: make_client does), the values of the usual key variables in
the environment, and anything shaped like a key (`sk-…`, `Bearer …`).
"""

from __future__ import annotations

import logging
import os
import re
import threading

MASK = "<redacted>"
KEY_ENV_VARS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")

_SHAPES = re.compile(
    r"(?<![A-Za-z0-9])(?:sk|pk|rk)-[A-Za-z0-9_\-*.]{6,}"  # OpenAI-style keys, also masked ones
    r"|(?i:bearer)\s+[A-Za-z0-9_\-.=:/+~]+"               # an Authorization header's value
    r"|(?<![A-Za-z0-9])hf_[A-Za-z0-9]{10,}"                # Hugging Face tokens
)
_known: set[str] = set()
_lock = threading.Lock()


def remember(secret: str | None) -> None:
    """Redact this value from now on (keys shorter than 4 characters are not secrets
    worth masking and would garble ordinary words)."""
    if secret and len(secret) >= 4:
        with _lock:
            _known.add(secret)


def _secrets() -> list[str]:
    with _lock:
        found = set(_known)
    found.update(v for k in KEY_ENV_VARS if len(v := os.environ.get(k) or "") >= 4)
    return sorted(found, key=len, reverse=True)  # longest first: a key containing another


def redact(text) -> str:
    """`text` with every known secret and key-shaped token replaced by <redacted>."""
    text = str(text)
    for secret in _secrets():
        text = text.replace(secret, MASK)
    return _SHAPES.sub(lambda m: "Bearer " + MASK if m.group(0)[:6].lower() == "bearer" else MASK, text)


def redact_logging() -> None:
    """Redact every log record this process creates, whichever library logs it and
    whichever handler prints it: the record factory is the one place they all pass.
    Idempotent."""
    old = logging.getLogRecordFactory()
    if getattr(old, "_datagen_redacts", False):
        return

    def factory(*args, **kwargs):
        record = old(*args, **kwargs)
        try:
            msg = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record is logging's own problem
            return record
        clean = redact(msg)
        if clean != msg:
            record.msg, record.args = clean, None
        return record

    factory._datagen_redacts = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
