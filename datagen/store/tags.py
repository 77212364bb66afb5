"""Named pointers to versions: `<store>/<name>/tags.json` {"good": "v0003"}.

A tag is the one mutable thing beside the immutable versions: a scheduled refresh moves
`good` to a version that beat the last evaluated one, and consumers read `name@good`.
The file is replaced atomically, so a reader sees the old pointer or the new, never half.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ..errors import ConfigError, DataError

TAGS = "tags.json"
TAG_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,49}$")


def is_tag(word: str) -> bool:
    """A tag name, as opposed to a version (v2, 0003) or 'latest'."""
    return bool(TAG_RE.match(word)) and word != "latest" and not re.match(r"^[vV]\d+$", word)


def read_tags(dataset_dir: str | Path) -> dict[str, str]:
    path = Path(dataset_dir) / TAGS
    if not path.is_file():
        return {}
    try:
        tags = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataError(path, e.lineno, f"invalid JSON: {e.msg}") from None
    if not isinstance(tags, dict):
        raise DataError(path, None, "expected an object of tag -> version")
    return {str(k): str(v) for k, v in tags.items()}


def set_tag(dataset_dir: str | Path, tag: str, version: str) -> dict[str, str]:
    """Point `tag` at `version` (atomic replace of tags.json); returns the new tags.
    Hold the dataset lock (or be the only writer) around it."""
    from ..io import write_json

    if not is_tag(tag):
        raise ConfigError(f"bad tag name {tag!r}: a letter then letters, digits, '_' or '-' (not vN, not latest)")
    tags = read_tags(dataset_dir)
    tags[tag] = version
    write_json(Path(dataset_dir) / TAGS, tags)
    return tags
