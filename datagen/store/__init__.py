"""The versioned dataset store: versions, the per-dataset lock, and views of them."""

from .lock import DatasetLock
from .versions import (DATA, DEFAULT_ROOT, MANIFEST, REJECTS, DatasetStore, DatasetVersion, check_name,
                       file_sha256, format_version, split_ref, version_number)

__all__ = ["DatasetLock", "DatasetStore", "DatasetVersion", "check_name", "file_sha256", "format_version",
           "split_ref", "version_number", "DATA", "REJECTS", "MANIFEST", "DEFAULT_ROOT"]
