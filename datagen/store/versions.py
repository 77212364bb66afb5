"""Versioned datasets: `<root>/<name>/v0001/`, `v0002/`, … each a full snapshot.

A version holds data.jsonl (one Record a line), rejects.jsonl (what this run dropped and
why) and manifest.json (where the data came from). It is built in a hidden temp folder
beside the versions, fsynced, and renamed into place, so a killed run never leaves a
visible half version; once renamed it is never written again. One run at a time writes a
dataset: a per-dataset flock, LockHeldError (exit 3) for the second.

The rename is the moment of publication, and a Ctrl-C can land a microsecond after it:
the store notes each version it is about to rename, so the CLI can say "aborted after
publishing demo@v0002" rather than a bare "aborted" (`published_since`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import jsonlines

from .. import __version__
from ..errors import ConfigError, DataError
from ..io import iter_json_rows, read_jsonl_records
from ..records import Record
from .lock import DatasetLock, _now
from .tags import is_tag, read_tags, set_tag

DEFAULT_ROOT = "datasets"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
VERSION_RE = re.compile(r"^v(\d{4,})$")
TMP_PREFIX = ".tmp-"
ATTEMPTS = "attempts"  # manifest-only records of runs that published nothing
LOCK_NAME = ".lock"
DATA, REJECTS, MANIFEST = "data.jsonl", "rejects.jsonl", "manifest.json"
REMOVED = "removed.json"  # numbers of removed versions (store/manage.py), never handed out again


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ConfigError(
            f"bad dataset name {name!r}: use letters, digits, '.', '_' or '-' (no '/' or '@')"
        )
    return name


def format_version(n: int) -> str:
    return f"v{n:04d}"


def version_number(version: str) -> int:
    m = VERSION_RE.match(version)
    if not m:
        raise ConfigError(f"bad version {version!r} (expected v0001, v2, 3 …)")
    return int(m.group(1))


def split_ref(ref: str) -> tuple[str, str | None]:
    """'name' -> (name, None); 'name@v2' / 'name@2' / 'name@v0002' -> (name, 'v0002')."""
    name, _, ver = ref.partition("@")
    check_name(name)
    if not ver or ver == "latest":
        return name, None
    digits = ver[1:] if ver[:1] in ("v", "V") else ver
    if not digits.isdigit() or int(digits) < 1:
        raise ConfigError(f"bad version in {ref!r} (expected NAME@v1, NAME@v0002 …)")
    return name, format_version(int(digits))


@dataclass
class DatasetVersion:
    name: str
    version: str
    path: Path
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def data_path(self) -> Path:
        return self.path / DATA

    @property
    def rejects_path(self) -> Path:
        return self.path / REJECTS

    def records(self) -> list[Record]:
        return read_jsonl_records(self.data_path) if self.data_path.stat().st_size else []

    def rejects(self) -> list[dict[str, Any]]:
        if not self.rejects_path.exists() or not self.rejects_path.stat().st_size:
            return []
        return [row for _, row in iter_json_rows(self.rejects_path)]


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_jsonl_synced(path: Path, rows: Iterable[dict[str, Any]]) -> tuple[int, str]:
    """Write rows, fsync, and return (count, sha256 of the bytes written)."""
    n = 0
    with open(path, "w", encoding="utf-8") as fh:
        with jsonlines.Writer(fh, compact=True, flush=False,
                              dumps=lambda o: json.dumps(o, ensure_ascii=False)) as w:
            for row in rows:
                w.write(row)
                n += 1
        fh.flush()
        os.fsync(fh.fileno())
    return n, file_sha256(path)


def _write_json_synced(path: Path, obj: Any) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, ensure_ascii=False, indent=2)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())


# (ref, path) of every version this process renamed or was about to rename into place
_PUBLISHING: list[tuple[str, Path]] = []


def publish_mark() -> int:
    """A bookmark for `published_since`: take it before a command runs."""
    return len(_PUBLISHING)


def published_since(mark: int = 0) -> list[tuple[str, Path]]:
    """(ref, path) of the versions this process published after `mark`. Noted before the
    rename and confirmed on disk here, so an interrupt between the two is still seen."""
    return [(ref, path) for ref, path in _PUBLISHING[mark:] if (path / MANIFEST).is_file()]


class DatasetStore:
    """The store root: list, resolve, read and publish dataset versions."""

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root or os.environ.get("DATAGEN_STORE") or DEFAULT_ROOT)

    def dataset_dir(self, name: str) -> Path:
        return self.root / check_name(name)

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir()
                      if p.is_dir() and NAME_RE.match(p.name) and self.versions(p.name))

    def versions(self, name: str) -> list[str]:
        d = self.dataset_dir(name)
        if not d.is_dir():
            return []
        found = [p.name for p in d.iterdir() if p.is_dir() and VERSION_RE.match(p.name)]
        return sorted(found, key=version_number)

    def latest(self, name: str) -> DatasetVersion | None:
        vs = self.versions(name)
        return self._load(name, vs[-1]) if vs else None

    def next_version(self, name: str) -> str:
        """The next number, past removed versions too (store/manage.py): a ref once
        published never names other data."""
        used = [version_number(v) for v in self.versions(name)]
        try:
            used += [version_number(v) for v in json.loads((self.dataset_dir(name) / REMOVED).read_text("utf-8"))]
        except (OSError, ValueError):
            pass
        return format_version(max(used, default=0) + 1)

    def resolve(self, ref: str) -> DatasetVersion:
        """'name' (latest), 'name@vN' or 'name@TAG' (e.g. name@good) -> the DatasetVersion;
        ConfigError when absent."""
        name, _, word = ref.partition("@")
        if word and is_tag(word):
            return self._resolve_tag(check_name(name), word)
        name, version = split_ref(ref)
        vs = self.versions(name)
        if not vs:
            known = ", ".join(self.names()) or "none"
            raise ConfigError(f"no dataset '{name}' in {self.root} (datasets: {known})")
        if version is None:
            version = vs[-1]
        elif version not in vs:
            raise ConfigError(f"dataset '{name}' has no version {version} (versions: {', '.join(vs)})")
        return self._load(name, version)

    def _resolve_tag(self, name: str, tag: str) -> DatasetVersion:
        tags = read_tags(self.dataset_dir(name))
        if tag not in tags:
            known = ", ".join(sorted(tags)) or "none"
            raise ConfigError(f"dataset '{name}' has no tag '{tag}' (tags: {known})")
        if tags[tag] not in self.versions(name):
            raise ConfigError(f"tag {name}@{tag} points at {tags[tag]}, which is not in {self.root}")
        return self._load(name, tags[tag])

    def tags(self, name: str) -> dict[str, str]:
        """tag -> version (e.g. {"good": "v0003"}) for dataset `name`."""
        return read_tags(self.dataset_dir(name))

    def set_tag(self, name: str, tag: str, version: str) -> None:
        if version not in self.versions(name):
            raise ConfigError(f"dataset '{name}' has no version {version}")
        set_tag(self.dataset_dir(name), tag, version)

    def read(self, ref: str) -> list[Record]:
        return self.resolve(ref).records()

    def _load(self, name: str, version: str) -> DatasetVersion:
        path = self.dataset_dir(name) / version
        mpath = path / MANIFEST
        try:
            manifest = json.loads(mpath.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DataError(mpath, None, "manifest missing: not a datagen dataset version") from None
        except json.JSONDecodeError as e:
            raise DataError(mpath, e.lineno, f"invalid JSON: {e.msg}") from None
        return DatasetVersion(name, version, path, manifest)

    def verify(self, ref: str) -> bool:
        """True when data.jsonl still hashes to the manifest's data_sha256."""
        dv = self.resolve(ref)
        return file_sha256(dv.data_path) == dv.manifest.get("data_sha256")

    def lock(self, name: str) -> DatasetLock:
        return DatasetLock(self.dataset_dir(name) / LOCK_NAME, name)

    def clean_temp(self, name: str) -> int:
        """Remove temp folders left by killed runs. Call only while holding the lock."""
        d = self.dataset_dir(name)
        n = 0
        if d.is_dir():
            for p in d.iterdir():
                if p.name.startswith(TMP_PREFIX) and p.is_dir():
                    shutil.rmtree(p, ignore_errors=True)
                    n += 1
        return n

    def record_attempt(self, name: str, rejects: Iterable[dict[str, Any]], manifest: dict[str, Any]) -> Path:
        """A run that published no version still paid for its requests: its manifest (spend,
        stop reason) and rejects go to `<dataset>/attempts/<version>-<time>/`, never a version."""
        d = self.dataset_dir(name) / ATTEMPTS
        d.mkdir(parents=True, exist_ok=True)
        stamp = _now().replace(":", "").replace("-", "").split(".")[0]
        out = Path(tempfile.mkdtemp(prefix=f"{self.next_version(name)}-{stamp}-", dir=d))
        _write_jsonl_synced(out / REJECTS, rejects)
        _write_json_synced(out / MANIFEST, {"name": name, "version": None, "attempt": True, "created": _now(),
                                            "datagen_version": __version__, **manifest})
        os.chmod(out, 0o755)
        return out

    def attempts(self, name: str) -> list[Path]:
        """The manifest-only records of runs that published nothing, oldest first."""
        d = self.dataset_dir(name) / ATTEMPTS
        return sorted((p for p in d.iterdir() if (p / MANIFEST).is_file()), key=lambda p: p.stat().st_mtime) \
            if d.is_dir() else []

    def publish(self, name: str, records: Iterable[Record], rejects: Iterable[dict[str, Any]],
                manifest: dict[str, Any], parent: str | None = None) -> DatasetVersion:
        """Write a new version atomically and return it. Hold `self.lock(name)` around
        the whole run that produced it, so the version number cannot be taken twice.

        `manifest` is what the caller knows (config, usage, funnel, …); the store adds
        name, version, parent, created, datagen_version, counts.records and data_sha256."""
        d = self.dataset_dir(name)
        d.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=TMP_PREFIX, dir=d))
        try:
            n, sha = _write_jsonl_synced(tmp / DATA, (r.to_dict() for r in records))
            n_rej, _ = _write_jsonl_synced(tmp / REJECTS, rejects)
            version = self.next_version(name)
            full = {
                "name": name, "version": version, "parent": parent, "created": _now(),
                "datagen_version": __version__, **manifest,
            }
            full["counts"] = {**manifest.get("counts", {}), "records": n, "rejects": n_rej}
            full["data_sha256"] = sha
            _write_json_synced(tmp / MANIFEST, full)
            for f in (DATA, REJECTS, MANIFEST):
                # read-only: a version is immutable once published
                os.chmod(tmp / f, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
            os.chmod(tmp, 0o755)  # mkdtemp makes it 0700; versions are shared reading
            _fsync_dir(tmp)
            _PUBLISHING.append((f"{name}@{version}", d / version))
            os.rename(tmp, d / version)
            _fsync_dir(d)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return self._load(name, version)

