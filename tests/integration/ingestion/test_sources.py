"""Drop-folder pick-up: only stable files, each once; the period from the name or the dates; too big refused."""

from __future__ import annotations

import os

from sqlalchemy import select

from ingestion import sources
from ingestion.models import DropFile, DropSource, Submission
from tests.integration.ingestion.conftest import csv_bytes, process, sale

MIN = 60 * 1_000_000_000


def _source(db_session, world, folder) -> DropSource:
    src = DropSource(distributor_id=world["d1"].id, location=str(folder), pattern="*", data_kind=None)
    db_session.add(src)
    db_session.flush()
    return src


def _write(path, data: bytes, mtime_ns: int) -> None:
    path.write_bytes(data)
    os.utime(path, ns=(mtime_ns, mtime_ns))


def test_only_stable_files_are_picked_up_once_each(db_session, world, layout, tmp_path):
    src = _source(db_session, world, tmp_path)
    t0 = 1_800_000_000 * 1_000_000_000
    good = tmp_path / "流向_2026-05.csv"
    _write(good, csv_bytes([sale(qty=q) for q in (1, 2, 3)]), t0)
    growing = tmp_path / "流向_2026-04.csv"
    _write(growing, b"still copying", t0)
    (tmp_path / "~$open.xlsx").write_bytes(b"lock")
    assert sources.scan_source(src.id, now_ns=t0 + 10 * MIN) == []  # first sight: only recorded
    _write(growing, b"still copying, more bytes", t0 + 10 * MIN)
    made = sources.scan_source(src.id, now_ns=t0 + 20 * MIN)
    assert len(made) == 1  # the stable one; the growing one changed since the last scan
    sub = db_session.get(Submission, made[0])
    assert (sub.source, sub.kind, sub.period_start.isoformat(), sub.period_source) == \
        ("drop_folder", "sell_out", "2026-05-01", "filename")  # kind told from the headers
    assert process(sub.id) == "loaded"
    assert sources.scan_source(src.id, now_ns=t0 + 30 * MIN) == []  # never twice
    names = {f.name for f in db_session.execute(select(DropFile)).scalars()}
    assert "~$open.xlsx" not in names


def test_a_file_without_a_month_in_its_name_takes_the_month_of_its_dates(db_session, world, layout, tmp_path):
    src = _source(db_session, world, tmp_path)
    t0 = 1_800_000_000 * 1_000_000_000
    _write(tmp_path / "flow.csv", csv_bytes([sale(day="2026-03-0" + str(d), qty=d) for d in (1, 2, 3)]), t0)
    sources.scan_source(src.id, now_ns=t0 + MIN)
    (sub_id,) = sources.scan_source(src.id, now_ns=t0 + 5 * MIN)
    process(sub_id)
    sub = db_session.get(Submission, sub_id)
    assert (sub.status, sub.period_start.isoformat(), sub.period_end.isoformat()) == \
        ("loaded", "2026-03-01", "2026-03-31"), sub.error_message


def test_a_200_mb_file_is_refused_with_a_clear_message(db_session, world, tmp_path):
    src = _source(db_session, world, tmp_path)
    big = tmp_path / "流向_2026-05.csv"
    with open(big, "wb") as fh:  # sparse: 200 MB without writing them
        fh.truncate(200 * 1024 * 1024)
    t0 = 1_800_000_000 * 1_000_000_000
    os.utime(big, ns=(t0, t0))
    sources.scan_source(src.id, now_ns=t0 + MIN)
    assert sources.scan_source(src.id, now_ns=t0 + 5 * MIN) == []
    f = db_session.execute(select(DropFile).where(DropFile.name == big.name)).scalar_one()
    assert f.submission_id is None and "150 MB" in f.error
