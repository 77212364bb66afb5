"""Dataset names and version refs from a URL, checked before they touch the disk.

Anything but a plain name (`../x`, `/etc`, `a/b`, odd characters) is a BadRequest (400);
a well-formed name that is not in the store is a NotFound (404). Nothing outside the
store is read or written through a ref."""

from __future__ import annotations

import re

from ..errors import DatagenError
from ..store import DatasetStore, DatasetVersion

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
VERSION_RE = re.compile(r"^v\d{4,9}$")
RECORD_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class StudioError(DatagenError):
    """An HTTP-facing error: `status` and a one-line message."""

    status = 400

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        if status is not None:
            self.status = status


class BadRequest(StudioError):
    status = 400


class NotFound(StudioError):
    status = 404


def check_dataset(name: str) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name) or ".." in name:
        raise BadRequest(f"bad dataset name {name[:60]!r}")
    return name


def check_version(version: str) -> str:
    if not isinstance(version, str) or not VERSION_RE.match(version):
        raise BadRequest(f"bad version {version[:60]!r} (expected v0001 …)")
    return version


def check_record_id(rid: str) -> str:
    if not isinstance(rid, str) or not RECORD_ID_RE.match(rid):
        raise BadRequest(f"bad record id {rid[:60]!r}")
    return rid


def open_version(store: DatasetStore, name: str, version: str) -> DatasetVersion:
    """The stored version, its path confirmed inside the store root."""
    check_dataset(name)
    check_version(version)
    if version not in store.versions(name):
        raise NotFound(f"no version {name}@{version} in the store")
    dv = store.resolve(f"{name}@{version}")
    root = store.root.resolve()
    if root not in dv.path.resolve().parents:
        raise BadRequest("version lies outside the store")
    return dv


def split_pair(ref: str) -> tuple[str, str]:
    """'name@v0002' -> (name, version), both checked (the compare page's form)."""
    name, _, version = (ref or "").partition("@")
    return check_dataset(name), check_version(version)
