"""The raw-file store: every received file kept immutably, addressed by the SHA-256 of its bytes.

Files live under ``INGEST_STORE_DIR`` (default ``<instance>/raw-files``) at ``ab/cd/abcdef…`` (the hash), written to
a temporary name in the same folder and renamed into place, then made read-only, so a file is either complete or
absent. Writing the same bytes twice keeps one file. ``storage_path`` in :class:`~ingestion.models.RawFile` is
relative to the store, so the store can move (set ``INGEST_STORE_DIR``, copy the folder).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from flask import current_app
from flask_babel import gettext as _

CHUNK = 1 << 20


class TooLarge(ValueError):
    """The stream passed the size limit; nothing was kept."""

    def __init__(self, limit: int):
        super().__init__(_("The file is larger than the %(mb)d MB limit. Split it (by month, or by kind) and send "
                           "the parts.", mb=limit // (1024 * 1024)))
        self.limit = limit


@dataclass(frozen=True)
class Stored:
    sha256: str
    size: int
    storage_path: str  # relative to the store


def store_dir() -> Path:
    configured = current_app.config.get("INGEST_STORE_DIR")
    path = Path(configured) if configured else Path(current_app.instance_path) / "raw-files"
    path.mkdir(parents=True, exist_ok=True)
    return path


def max_bytes() -> int:
    return int(current_app.config.get("INGEST_MAX_MB", 150)) * 1024 * 1024


def put(stream: BinaryIO, limit: int | None = None) -> Stored:
    """Copy ``stream`` into the store (hashing as it goes) and return where it is. Raises TooLarge past ``limit``
    bytes (default ``INGEST_MAX_MB``), keeping nothing."""
    limit = max_bytes() if limit is None else limit
    root = store_dir()
    tmp_dir = root / "tmp"
    tmp_dir.mkdir(exist_ok=True)
    digest, size = hashlib.sha256(), 0
    fd, tmp_name = tempfile.mkstemp(dir=tmp_dir)
    try:
        with os.fdopen(fd, "wb") as out:
            while block := stream.read(CHUNK):
                size += len(block)
                if size > limit:
                    raise TooLarge(limit)
                digest.update(block)
                out.write(block)
        sha = digest.hexdigest()
        rel = f"{sha[:2]}/{sha[2:4]}/{sha}"
        final = root / rel
        if final.exists():
            os.unlink(tmp_name)
        else:
            final.parent.mkdir(parents=True, exist_ok=True)
            os.chmod(tmp_name, 0o444)
            os.replace(tmp_name, final)
        return Stored(sha, size, rel)
    except BaseException:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
        raise


def put_path(path: str | Path, limit: int | None = None) -> Stored:
    """Copy a file on disk into the store (see :func:`put`)."""
    with open(path, "rb") as fh:
        return put(fh, limit)


def path_of(storage_path: str) -> Path:
    """The absolute path of a stored file (raises FileNotFoundError when it is missing)."""
    root = store_dir().resolve()
    path = (root / storage_path).resolve()
    if root not in path.parents:
        raise FileNotFoundError(storage_path)
    if not path.is_file():
        raise FileNotFoundError(storage_path)
    return path
