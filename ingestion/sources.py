"""Scheduled pick-up of channel-data files from the distributors' drop sources.

A source is anything that can list entries (name, size, modification time) and open one: :class:`FolderSource` (a
directory on the worker machines, e.g. where an SFTP server or a file share lands the distributors' files) is the
one there is today; an SFTP or HTTP source implements the same two methods and registers in :data:`SOURCE_TYPES`.

A file is picked up once it is stable: seen with the same size and modification time on two scans, and last
modified at least ``INGEST_DROP_STABLE_SECONDS`` ago, so a file still being copied is left for a later scan. Each
file becomes one submission (the same bytes twice are recognised as a duplicate); a file replaced under the same
name is picked up again. The period comes from the file name (流向_2026-03.csv) or, failing that, from the dates in
the file; the kind from the source or, when the source says nothing, from the headers.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import BinaryIO, Protocol

from flask import current_app
from sqlalchemy import select

from app import clock
from app.extensions import db
from app.models.base import utcnow
from app.tasks import unit_of_work
from ingestion.models import DropFile, DropSource, SubmissionStatus
from ingestion.periods import month_end, month_from_filename

log = logging.getLogger(__name__)
_SKIP = ("~$", ".", "_tmp")
_SKIP_SUFFIX = (".tmp", ".part", ".partial", ".crdownload", ".filepart")


@dataclass(frozen=True)
class Entry:
    name: str
    size: int
    mtime_ns: int


class Source(Protocol):
    def entries(self) -> Iterator[Entry]: ...

    def open(self, name: str) -> BinaryIO: ...


class FolderSource:
    """Files directly in a directory (not its subfolders) whose names match the source's pattern."""

    def __init__(self, location: str, pattern: str = "*"):
        self.root = Path(location)
        self.pattern = pattern or "*"

    def entries(self) -> Iterator[Entry]:
        with os.scandir(self.root) as it:
            for e in it:
                if not e.is_file(follow_symlinks=False) or e.name.startswith(_SKIP) or \
                        e.name.lower().endswith(_SKIP_SUFFIX) or not fnmatch.fnmatch(e.name, self.pattern):
                    continue
                st = e.stat(follow_symlinks=False)
                yield Entry(e.name, st.st_size, st.st_mtime_ns)

    def open(self, name: str) -> BinaryIO:
        path = (self.root / name).resolve()
        if path.parent != self.root.resolve():
            raise FileNotFoundError(name)
        return open(path, "rb")  # noqa: SIM115 - the caller closes it


SOURCE_TYPES = {"folder": FolderSource}


def source_for(src: DropSource) -> Source:
    return SOURCE_TYPES[src.kind](src.location, src.pattern)


def scan_source(source_id: int, now_ns: int | None = None) -> list[int]:
    """Scan one source: record new and changed files, pick up the stable ones; returns the new submissions' ids
    (status received; the caller commits and enqueues them)."""
    from ingestion.intake import IntakeError, receive_file

    src = db.session.get(DropSource, source_id)
    if src is None or not src.active:
        return []
    now_ns = now_ns or time.time_ns()
    stable_ns = int(current_app.config.get("INGEST_DROP_STABLE_SECONDS", 60)) * 1_000_000_000
    known = {f.name: f for f in db.session.execute(select(DropFile).where(DropFile.source_id == src.id)).scalars()}
    made: list[int] = []
    try:
        entries = list(source_for(src).entries())
    except OSError as exc:
        src.last_error, src.last_scan_at = f"{type(exc).__name__}: {exc}", utcnow()
        return []
    for e in entries:
        f = known.get(e.name)
        if f is None:
            db.session.add(DropFile(source_id=src.id, name=e.name, size=e.size, mtime_ns=e.mtime_ns))
            continue
        if (f.size, f.mtime_ns) != (e.size, e.mtime_ns):  # still being written, or replaced under the same name
            f.size, f.mtime_ns, f.picked_at, f.error = e.size, e.mtime_ns, None, None
            continue
        if f.picked_at is not None or now_ns - e.mtime_ns < stable_ns:
            continue
        f.picked_at = utcnow()
        try:
            with source_for(src).open(e.name) as fh:
                sub = receive_file(fh, e.name, src.distributor, src.data_kind, _period(src, e.name),
                                   source="drop_folder", submitted_by=None,
                                   period_source="filename" if month_from_filename(e.name) else "data")
        except (IntakeError, OSError) as exc:
            f.error = str(exc)
            continue
        f.submission_id = sub.id
        if sub.status == SubmissionStatus.RECEIVED.value:
            made.append(sub.id)
    src.last_scan_at, src.last_error = utcnow(), None
    db.session.flush()
    return made


def _period(src: DropSource, name: str):
    from ingestion.intake import Period

    first = month_from_filename(name)
    if first is None:  # provisional: the pipeline sets it from the file's dates
        first = (clock.today().replace(day=1) - timedelta(days=1)).replace(day=1)
    return Period("month", first, month_end(first))


def scan_all() -> int:
    """Scan every active source (one unit of work each) and enqueue what was picked up."""
    from ingestion.tasks import process_submission

    ids = [s for (s,) in db.session.execute(select(DropSource.id).where(DropSource.active).order_by(DropSource.id))]
    db.session.remove()
    total = 0
    for source_id in ids:
        try:
            made = unit_of_work(lambda s=source_id: scan_source(s))
        except Exception:  # one bad source must not stop the others
            log.exception("drop source %s: scan failed", source_id)
            continue
        for sub_id in made:
            process_submission.delay(sub_id)
        total += len(made)
    return total



class SourceError(ValueError):
    """A drop source cannot be saved; nothing changed."""


def save_source(data, source_id: int | None = None) -> DropSource:
    """Create or change a drop source from form / API values: distributor (code), location (an absolute folder
    path on the worker machines), pattern, data_kind ('' = told from the headers), active. Audited."""
    from flask_babel import gettext as _

    from app.models import Distributor

    src = db.session.get(DropSource, source_id) if source_id else DropSource(kind="folder")
    if src is None:
        raise SourceError(_("Unknown drop source."))
    code = (data.get("distributor") or "").strip()
    dist = db.session.execute(select(Distributor).where(Distributor.code == code)).scalar_one_or_none()
    if dist is None:
        raise SourceError(_("Unknown code %(code)s.", code=code))
    location = (data.get("location") or "").strip()
    if not location or not os.path.isabs(location):
        raise SourceError(_("The folder must be an absolute path (e.g. /srv/drp/drop/ZJ101)."))
    kind = (data.get("data_kind") or "").strip() or None
    if kind not in (None, "sell_out", "purchase", "inventory"):
        raise SourceError(_("Must be one of: %(choices)s.", choices="sell_out, purchase, inventory"))
    src.distributor_id, src.location = dist.id, location[:500]
    src.pattern = (data.get("pattern") or "*").strip()[:100] or "*"
    src.data_kind, src.period_kind = kind, "month"
    src.active = str(data.get("active", "1")) in ("1", "true", "on", "True")
    if src.id is None:
        db.session.add(src)
    db.session.flush()
    return src
