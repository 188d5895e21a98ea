"""The channel-data pipeline: one submission's raw file → facts, rejected rows, rows waiting for review, stock.

:func:`claim_submission`, :func:`load_submission` and :func:`fail_submission` are the three units of work of the
Celery task (``ingestion.tasks.process_submission``); each flushes, the task commits. The load is ONE transaction:

1. inspect and read the raw file in chunks (``ingestion.reading``), refuse a wrong kind of file or a file of
   another distributor (title rows, a distributor-code column);
2. find the distributor's confirmed mapping template for the layout; a new layout gets a proposed template and
   the submission waits for a person (``needs_mapping``), the current version untouched;
3. per chunk: normalise (``ingestion.cleaning``), resolve products, units, lots and customers
   (:class:`ingestion.resolve.Resolver`), validate, and write accepted rows to the fact table, rejected rows with
   their reasons and rows waiting for review, all in bulk (``ingestion.loading``);
4. make it the current version of its distributor × kind × period (the previous one superseded, its waiting rows
   dropped), post the sell-out and transfers into channel stock (the previous version's postings reversed,
   :func:`inventory.services.post_reported_flows`), tell the facts listeners (``ingestion.hooks``) and notify the
   submitter.

Anything that fails rolls the whole load back: the previous version stays current and nothing is half loaded; a
file refused as a whole is then marked failed with its reason in a short transaction of its own. A worker killed
mid-way leaves an open transaction the database rolls back; the task is redelivered (acks_late) and loads again.
"""

from __future__ import annotations

import json
import logging
import operator
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd
from flask import current_app
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import delete, exists, func, select, update

from app import gc_pause
from app.extensions import db
from app.models import Distributor, Notification, StockLocation, User
from app.models.base import utcnow
from app.timing import Laps
from ingestion import cleaning, hooks, loading, mapping, progress, reading, store
from ingestion.models import (
    DataKind,
    InventoryFact,
    MappingTemplate,
    PendingRow,
    PurchaseFact,
    RejectedRow,
    ReviewItem,
    SellOutFact,
    StockShortfall,
    Submission,
    SubmissionStatus,
)
from ingestion.periods import closed_months, month_of, months_between
from ingestion.resolve import Resolution, Resolver
from inventory import services as inventory

ROW = reading.ROW
S = SubmissionStatus
log = logging.getLogger(__name__)

FACTS = {
    DataKind.SELL_OUT.value: (SellOutFact, ("submission_id", "distributor_id", "source_row", "business_date",
                                            "terminal_id", "to_distributor_id", "region_id", "product_id", "lot_id",
                                            "lot_no", "expires_on", "quantity", "unit_price", "amount")),
    DataKind.PURCHASE.value: (PurchaseFact, ("submission_id", "distributor_id", "source_row", "business_date",
                                             "supplier_distributor_id", "product_id", "lot_id", "lot_no",
                                             "expires_on", "quantity", "unit_price", "amount")),
    DataKind.INVENTORY.value: (InventoryFact, ("submission_id", "distributor_id", "source_row", "as_of",
                                               "product_id", "lot_id", "lot_no", "expires_on", "quantity")),
}
# a column naming the reporting distributor (流向 exports of some ERPs carry it on every line)
_DISTRIBUTOR_COLUMN = re.compile(r"(经销商|商业|上报单位|配送商|流向单位).*(编码|代码|编号)|distributor\s*code",
                                 re.I)


class SubmissionRejected(Exception):
    """The file as a whole is refused (``code`` stable, ``message`` translated); nothing of it is loaded."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


def posting_reference(submission_id: int) -> str:
    """The reference of the stock movements a submission posts (and of the reversals it makes)."""
    return f"ING-{submission_id}"


# -- unit 1: claim ------------------------------------------------------------------------------------------------
def claim_submission(submission_id: int) -> bool:
    """Mark the submission as processing (one more attempt) if it still needs processing; False: nothing to do
    (already loaded, failed, a duplicate, waiting for its mapping, or unknown)."""
    sub = db.session.execute(select(Submission).where(Submission.id == submission_id).with_for_update()
                             ).scalar_one_or_none()
    if sub is None or sub.status not in (S.RECEIVED.value, S.PROCESSING.value):
        return False
    sub.status = S.PROCESSING.value
    sub.attempts = (sub.attempts or 0) + 1
    db.session.flush()
    progress.report(sub.id, "queued")
    return True


# -- unit 3: failure ----------------------------------------------------------------------------------------------
def fail_submission(submission_id: int, code: str, message: str) -> None:
    """Record that the file was refused as a whole (the previous version, if any, stays current) and tell the
    submitter."""
    sub = db.session.get(Submission, submission_id)
    if sub is None or sub.status not in (S.RECEIVED.value, S.PROCESSING.value):
        return
    sub.status, sub.error_code, sub.error_message = S.FAILED.value, code, message
    sub.processed_at = utcnow()
    db.session.flush()
    notify_submitter(sub)
    progress.report(sub.id, "failed")


# -- unit 2: the load ---------------------------------------------------------------------------------------------
@dataclass
class Load:
    sub: Submission
    kind: str
    columns: dict[str, str]
    headers: list[str]
    resolver: Resolver
    location_id: int | None
    period_start: date
    period_end: date
    seen: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.uint64))
    counts: Counter = field(default_factory=Counter)
    reasons: Counter = field(default_factory=Counter)
    flows: Counter = field(default_factory=Counter)  # (to_distributor | None, product, lot | None, day) → qty
    items: dict[tuple, int] = field(default_factory=dict)  # (subject, key kind, key) → open review item id
    #: (customer code, name, region text) → (terminal, to-distributor, region, review Resolution): each distinct
    #: customer of the file resolved once, however many chunks it appears in
    customers: dict[tuple, tuple] = field(default_factory=dict)
    total_rows: int | None = None
    laps: Laps = field(default_factory=Laps)  # seconds per phase (kept in the submission's notes)
    defer_copy: bool = False  # hand each chunk's COPYs to the connection's sender (see ingestion.loading)


def load_submission(submission_id: int) -> str:
    """Load a claimed submission (see the module docstring) and return its new status. Raises SubmissionRejected
    when the file is refused as a whole (the caller rolls back and calls :func:`fail_submission`)."""
    with gc_pause.fewer_collections():
        return _load_submission(submission_id)


def _load_submission(submission_id: int) -> str:
    sub = db.session.execute(select(Submission).where(Submission.id == submission_id).with_for_update()
                             ).scalar_one_or_none()
    if sub is None or sub.status != S.PROCESSING.value:
        return sub.status if sub else "missing"
    loading.advisory_lock(sub.distributor_id, sub.kind)
    progress.report(sub.id, "reading")
    try:
        path = store.path_of(sub.raw_file.storage_path)
    except FileNotFoundError as exc:
        raise SubmissionRejected("raw_file_missing", _("The stored file is missing from the raw-file store.")) from exc
    try:
        known = (sub.notes or {}).get("file")
        info = reading.FileInfo(**known) if known else \
            reading.inspect_file(path, sub.filename, max_bytes=store.max_bytes())
        table = reading.read_table(path, info, chunk_rows=int(current_app.config.get("INGEST_CHUNK_ROWS", 50_000)))
    except reading.FileRejected as exc:
        raise SubmissionRejected(exc.code, exc.message) from exc
    _check_kind(sub, table)
    _check_title(sub, table)
    template = _template_for(sub, table)
    if template is None:
        return sub.status
    sub.template_id = template.id
    load = _start(sub, template, table, info)
    if sub.period_source == "data":
        _infer_period(load, table)
    _check_closed(sub)
    load.defer_copy = True
    try:
        chunks = table.iter_chunks()
        while True:
            load.laps.restart()
            chunk = next(chunks, None)
            load.laps("read")
            if chunk is None:
                break
            _check_distributor_column(load, chunk)
            _process_chunk(load, chunk)
            progress.report(sub.id, "loading", load.counts["read"], total_bytes=load.total_rows or 0,
                            done_bytes=load.counts["read"])
            _throttle()
        load.laps.restart()
        loading.settle()
        load.laps("copy_wait")
    except reading.FileRejected as exc:
        loading.settle(abort=True)
        raise SubmissionRejected(exc.code, exc.message) from exc
    except BaseException:
        loading.settle(abort=True)
        raise
    return _finish(load, table)


def _throttle() -> None:
    pause = float(current_app.config.get("INGEST_CHUNK_PAUSE_SECONDS") or 0)
    if pause > 0:
        import time

        time.sleep(pause)


def _check_kind(sub: Submission, table: reading.Table) -> None:
    detected = mapping.detect_kind(table.headers, table.title_lines)
    if detected and detected != sub.kind and not _has_confirmed(sub, table):
        raise SubmissionRejected("wrong_kind", _(
            "This looks like a %(found)s file, not %(kind)s: check that you chose the right kind of data.",
            found=kind_label(detected), kind=kind_label(sub.kind)))


def _has_confirmed(sub: Submission, table: reading.Table) -> bool:
    return db.session.execute(select(MappingTemplate.id).where(
        MappingTemplate.distributor_id == sub.distributor_id, MappingTemplate.kind == sub.kind,
        MappingTemplate.signature == mapping.layout_signature(table.headers),
        MappingTemplate.confirmed_at.is_not(None))).first() is not None


def kind_label(kind: str) -> str:
    return {"sell_out": _("sell-out"), "purchase": _("purchase"), "inventory": _("inventory")}.get(kind, kind)


def source_label(source: str) -> str:
    return {"upload": _("uploaded on the page"), "api": _("sent through the API"),
            "drop_folder": _("picked up from the drop folder")}.get(source, source)


def status_label(status: str) -> str:
    return {"received": _("received"), "needs_mapping": _("needs mapping"), "processing": _("processing"),
            "loaded": _("loaded"), "failed": _("failed"), "duplicate": _("duplicate"),
            "superseded": _("superseded")}.get(status, status)


def _other_distributors(sub: Submission) -> list[tuple[str, str]]:
    return list(db.session.execute(select(Distributor.code, Distributor.name)
                                   .where(Distributor.id != sub.distributor_id)).all())


def _check_title(sub: Submission, table: reading.Table) -> None:
    """Title rows naming another distributor (by code or full name) and not this one: the wrong file."""
    text = " ".join(table.title_lines)
    if not text.strip():
        return
    own = sub.distributor
    if own.code in text or own.name in text:
        return
    for code, name in _other_distributors(sub):
        if name in text or re.search(rf"(?<![0-9A-Za-z]){re.escape(code)}(?![0-9A-Za-z])", text):
            raise SubmissionRejected("other_distributor", _(
                "The file's title names %(other)s, not %(own)s: it seems to be another distributor's file.",
                other=f"{code} {name}", own=f"{own.code} {own.name}"))


def _check_distributor_column(load: Load, chunk: pd.DataFrame) -> None:
    own = load.sub.distributor.code
    for header in load.headers:
        if header in load.columns.values() or not _DISTRIBUTOR_COLUMN.search(header):
            continue
        values = {str(v).strip() for v in chunk[header].dropna().unique()}
        others = sorted(v for v in values if v and v != own and v in load.resolver.distributor_codes)
        if others:
            raise SubmissionRejected("other_distributor", _(
                "Column %(col)s names distributor %(other)s, not %(own)s: this file (or part of it) belongs to "
                "another distributor.", col=header, other=others[0], own=own))


def _template_for(sub: Submission, table: reading.Table) -> MappingTemplate | None:
    """The confirmed template of this layout, or None after proposing one (the submission then waits)."""
    signature = mapping.layout_signature(table.headers)
    template = db.session.execute(select(MappingTemplate).where(
        MappingTemplate.distributor_id == sub.distributor_id, MappingTemplate.kind == sub.kind,
        MappingTemplate.signature == signature)).scalar_one_or_none()
    if template is not None and template.confirmed:
        return template
    if template is None:
        proposal = mapping.propose_mapping(table.headers, sub.kind, table.title_lines)
        template = MappingTemplate(distributor_id=sub.distributor_id, kind=sub.kind, signature=signature,
                                   headers=list(table.headers), columns=dict(proposal.columns),
                                   confidence=proposal.confidence)
        db.session.add(template)
        db.session.flush()
    sub.template_id = template.id
    sub.status = S.NEEDS_MAPPING.value
    sub.processed_at = utcnow()
    db.session.flush()
    notify_submitter(sub)
    progress.report(sub.id, "needs_mapping")
    return None


def _start(sub: Submission, template: MappingTemplate, table: reading.Table, info) -> Load:
    columns = {f: h for f, h in template.columns.items() if h in table.headers}
    missing = [group[0] for group in mapping.REQUIRED[sub.kind] if not any(f in columns for f in group)]
    if missing:
        raise SubmissionRejected("mapping_incomplete", _(
            "The mapping template does not map the required field(s) %(fields)s.", fields=", ".join(missing)))
    location = db.session.execute(select(StockLocation.id).where(
        StockLocation.distributor_id == sub.distributor_id, StockLocation.kind == "distributor",
        StockLocation.active).order_by(StockLocation.id).limit(1)).scalar()
    load = Load(sub=sub, kind=sub.kind, columns=columns, headers=list(table.headers),
                resolver=Resolver(sub.distributor, sub.kind), location_id=location,
                period_start=sub.period_start, period_end=sub.period_end)
    load.total_rows = _estimate_rows(table, info)
    return load


def _estimate_rows(table: reading.Table, info) -> int | None:
    """Data lines of a CSV (newlines counted in blocks: about 0.1 s per 100 MB), for the progress bar."""
    if info.format != reading.CSV or table._path is None:
        return None
    count = 0
    with open(table._path, "rb") as fh:
        while block := fh.read(1 << 20):
            count += block.count(b"\n")
    return max(count - table.header_row, 0)


def _infer_period(load: Load, table: reading.Table) -> None:
    """A drop-folder file without a period in its name: the calendar month of its dates (one month only)."""
    header = load.columns.get("as_of" if load.kind == DataKind.INVENTORY.value else "business_date")
    months: set[date] = set()
    if header:
        for chunk in table.iter_chunks():
            for value in pd.unique(chunk[header].dropna()):
                parsed = cleaning.parse_date(value)
                if parsed:
                    months.add(month_of(parsed))
    if len(months) != 1:
        raise SubmissionRejected("period_unknown", _(
            "The period cannot be told from the file name or its dates (they span %(n)d months). Name the file "
            "with its month (e.g. 2026-03) or upload it with its period.", n=len(months)))
    start = months.pop()
    end = (start + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    load.sub.period_start, load.sub.period_end = start, end
    load.period_start, load.period_end = start, end
    db.session.flush()


def _check_closed(sub: Submission) -> None:
    closed = closed_months(sub.distributor_id, sub.period_start, sub.period_end)
    if closed:
        raise SubmissionRejected("period_closed", _(
            "The period %(month)s is closed for %(dist)s: data for it can no longer be submitted. Ask the channel "
            "manager to reopen it.", month=closed[0].strftime("%Y-%m"), dist=sub.distributor.code))


# -- one chunk ----------------------------------------------------------------------------------------------------
def _process_chunk(load: Load, chunk: pd.DataFrame) -> None:
    load.laps.restart()
    n = cleaning.normalise_chunk(chunk, load.columns, load.kind)
    n = n.reset_index(drop=True)
    chunk = chunk.reset_index(drop=True)
    dup = _duplicates(load, chunk)
    load.laps("normalise")
    raws = chunk[load.headers]
    load.counts["read"] += len(n)
    process_rows(load, n, raws, dup)


def _duplicates(load: Load, chunk: pd.DataFrame) -> np.ndarray:
    """Rows identical (in every mapped column) to an earlier row of the file; 8 bytes kept per row."""
    cols = [h for h in dict.fromkeys(load.columns.values()) if h in chunk.columns]
    hashes = pd.util.hash_pandas_object(chunk[cols].astype(str), index=False).to_numpy(dtype=np.uint64)
    seen = load.seen  # sorted, unique
    dup = pd.Series(hashes).duplicated().to_numpy()
    if len(seen):
        pos = np.minimum(np.searchsorted(seen, hashes), len(seen) - 1)
        dup = dup | (seen[pos] == hashes)
    # merge two sorted runs (a stable sort of two runs is linear): no re-sort of everything seen per chunk
    merged = np.concatenate([seen, np.unique(hashes)])
    merged.sort(kind="stable")
    load.seen = merged[np.concatenate([[True], merged[1:] != merged[:-1]])] if len(merged) else merged
    return dup


def process_rows(load: Load, n: pd.DataFrame, raws: pd.DataFrame, dup: np.ndarray | None = None,
                 pending_ids: list[int] | None = None) -> dict:
    """Resolve, validate and write normalised rows ``n`` (index 0..len-1, raw cells in ``raws``): accepted rows to
    the facts, the others rejected or waiting. Also used for rows leaving the review queue (``pending_ids``: their
    PendingRow ids, which are then not written again). Returns the counts."""
    kind, r = load.kind, load.resolver
    lap = load.laps
    lap.restart()
    size = len(n)
    col = _Columns(n)
    reasons: list[list[str]] = n[cleaning.PROBLEMS].tolist()  # one fresh list per row: extended in place
    if kind == DataKind.INVENTORY.value and "quantity_zero" in {c for p in reasons for c in p}:
        reasons = [[c for c in p if c != "quantity_zero"] for p in reasons]  # a zero stock line is fine
    if dup is not None:
        for i in np.flatnonzero(dup):
            reasons[i].append("duplicate_line")
    date_col = "as_of" if kind == DataKind.INVENTORY.value else "business_date"
    if kind == DataKind.INVENTORY.value:
        n["as_of"] = n["as_of"].where(n["as_of"].notna(), load.period_end)
    days = col[date_col] if kind != DataKind.INVENTORY.value else n["as_of"].tolist()
    dcodes, dvalues = pd.factorize(pd.Series(days, dtype=object), use_na_sentinel=True)  # each date checked once
    outside = np.array([isinstance(d, date) and d is not pd.NaT and not (load.period_start <= d <= load.period_end)
                        for d in dvalues] + [False], dtype=bool)  # the last: missing dates (code -1)
    for i in np.flatnonzero(outside[dcodes]):
        reasons[i].append("date_outside_period")
    # products: each distinct (code, name, specification) once, then spread over the rows
    pcodes, pkeys, _first = _distinct(n, col, ("product_code", "product_name", "specification"))
    presolved = r.products_for([k for k in pkeys if not (k[0] is None and k[1] is None)])
    k_product: list[int | None] = [None] * len(pkeys)
    k_review: list[Resolution | None] = [None] * len(pkeys)
    k_unknown = np.zeros(len(pkeys), dtype=bool)
    for j, key in enumerate(pkeys):
        if key[0] is None and key[1] is None:
            continue  # missing_product already
        res = presolved[key]
        if res.matched:
            k_product[j] = res.id
        elif res.candidates:
            k_review[j] = res
        else:
            k_unknown[j] = True
    product_ids: list[int | None] = _spread(k_product, pcodes)
    product_review: list[Resolution | None] = _spread(k_review, pcodes)
    in_review = np.array([res is not None for res in k_review], dtype=bool)[pcodes]
    for i in np.flatnonzero(k_unknown[pcodes]):
        reasons[i].append("unknown_product")
    # units, lots, expiry: each distinct (product, unit, lot, expiry) once
    lots = r.lots_of({p for p in k_product if p})
    ucodes, ukeys, first_row = _distinct(n, col, ("unit", "lot_no", "expires_on"), within=pcodes)
    k_factor = np.zeros(len(ukeys), dtype=np.int64)  # 0: unknown unit
    k_lot: list[int | None] = [None] * len(ukeys)
    k_problem: list[tuple[str, ...]] = [()] * len(ukeys)
    factors: dict[tuple, int | None] = {}
    for j, (unit, lot_no, expires) in enumerate(ukeys):
        pid = product_ids[first_row[j]]
        if pid is None:
            continue
        if (pid, unit) not in factors:
            factors[pid, unit] = r.base_quantity(pid, 1, unit)
        problems = []
        if factors[pid, unit] is None:
            problems.append("unknown_unit")
        else:
            k_factor[j] = factors[pid, unit]
        if lot_no:
            hit = lots[pid].get(lot_no)
            if hit is None:
                problems.append("lot_unknown")
            else:
                k_lot[j] = hit[0]
                if _expiry_differs(expires, hit[1]):
                    problems.append("expiry_mismatch")
        k_problem[j] = tuple(problems)
    quantity = n["quantity"]
    checked = (quantity.notna().to_numpy() & np.array([p is not None for p in product_ids], dtype=bool))
    factor = k_factor[ucodes]
    base = (quantity.fillna(0).astype("int64").to_numpy() * factor).tolist()
    base_qty: list[int | None] = [b if ok else None for b, ok in zip(base, checked & (factor != 0), strict=True)]
    lot_ids: list[int | None] = [lot if ok else None
                                 for lot, ok in zip(_spread(k_lot, ucodes), checked, strict=True)]
    k_has_problem = np.array([bool(p) for p in k_problem], dtype=bool)
    for i in np.flatnonzero(checked & k_has_problem[ucodes]):
        reasons[i].extend(k_problem[ucodes[i]])
    lot_nos, expiries = col["lot_no"], col["expires_on"]
    lap("products_lots")
    # customers (sell-out) and suppliers (purchase)
    terminals: list[int | None] = [None] * size
    to_dists: list[int | None] = [None] * size
    suppliers: list[int | None] = [None] * size
    regions: list[int | None] = [None] * size
    customer_review: list[Resolution | None] = [None] * size
    if kind == DataKind.SELL_OUT.value:
        ccodes, ckeys, _first = _distinct(n, col, ("customer_code", "customer_name", "customer_region"))
        known = load.customers
        new = [k for k in ckeys if k not in known and (k[0] or k[1])]
        if new:
            cresolved = r.customers_for(new)
            for key in new:
                res = cresolved[key]
                region = r.regions.parse(key[2])
                if res.target == "terminal":
                    known[key] = (res.id, None, region or r.terminal_regions.get(res.id), None)
                elif res.target == "distributor":
                    known[key] = (None, res.id, region, None)
                else:
                    known[key] = (None, None, region, res)
        nobody = (None, None, None, None)
        resolved = [known.get(k, nobody) for k in ckeys] or [nobody]  # (a chunk has rows: never empty)
        k_terminal, k_dist, k_region, k_creview = (list(c) for c in zip(*resolved, strict=True))
        terminals, to_dists = _spread(k_terminal, ccodes), _spread(k_dist, ccodes)
        regions, customer_review = _spread(k_region, ccodes), _spread(k_creview, ccodes)
        in_review |= np.array([res is not None for res in k_creview], dtype=bool)[ccodes]
        to_codes = pd.factorize(pd.Series(k_dist, dtype=object), use_na_sentinel=True)[0][ccodes]  # per row
    elif kind == DataKind.PURCHASE.value:
        for i, (code, name) in enumerate(zip(col["supplier_code"], col["supplier_name"], strict=True)):
            suppliers[i] = r.supplier_for(code, name)

    lap("customers")
    has_reason = np.fromiter(map(bool, reasons), dtype=bool, count=size)
    rejected = np.flatnonzero(has_reason).tolist()
    waiting = np.flatnonzero(~has_reason & in_review).tolist()
    accepted = np.flatnonzero(~has_reason & ~in_review).tolist()
    sub = load.sub
    model, cols = FACTS[kind]
    prices, amounts = col["unit_price"], col["amount"]
    source_rows = n[ROW].tolist()

    take = operator.itemgetter(*accepted) if len(accepted) > 1 else None

    def pick(values, convert=None):  # one fact column: the accepted rows' values
        picked = take(values) if take else [values[i] for i in accepted]
        return picked if convert is None else [convert(v) for v in picked]

    quantities = pick(base_qty)
    head = ([sub.id] * len(accepted), [sub.distributor_id] * len(accepted), pick(source_rows, int), pick(days))
    tail = (pick(product_ids), pick(lot_ids), pick(lot_nos), pick(expiries, _date_or_none), quantities)
    money_cell = _money_text if loading.is_postgresql() else _dec  # COPY takes text; SQLite's executemany Decimals
    money = (pick(prices, money_cell), pick(amounts, money_cell))
    if kind == DataKind.SELL_OUT.value:
        columns = (*head, pick(terminals), pick(to_dists), pick(regions), *tail, *money)
    elif kind == DataKind.PURCHASE.value:
        columns = (*head, pick(suppliers), *tail, *money)
    else:
        columns = (*head, *tail)
    if kind == DataKind.SELL_OUT.value and accepted:
        _add_flows(load, np.asarray(accepted, dtype=np.int64), np.asarray(quantities, dtype=np.int64),
                   (ucodes, to_codes, dcodes), (to_dists, product_ids, lot_ids, days))
    lap("prepare_rows")
    # the COPYs are handed to the connection's sender (``defer_copy``): the server takes them while the next chunk
    # is read; only a statement here (the review items) waits for the server to have taken the previous ones
    raw_records = _records(raws, rejected + waiting) if (rejected or waiting) and pending_ids is None else None
    if rejected:
        detail = {i: _detail(reasons[i]) for i in rejected}
        loading.copy_rows(RejectedRow.__table__,
                          ("submission_id", "distributor_id", "source_row", "reasons", "detail", "raw"),
                          ((sub.id, sub.distributor_id, int(source_rows[i]), ",".join(dict.fromkeys(reasons[i])),
                            detail[i], _raw(raw_records, raws, i)) for i in rejected), json_text=("raw",),
                          defer=load.defer_copy)
        for i in rejected:
            load.reasons.update(set(reasons[i]))
    if waiting and pending_ids is None:
        values = dict(zip(waiting, _json_values(n.iloc[waiting]), strict=True))
        wanted = {}
        for i in waiting:
            if customer_review[i]:
                wanted[("customer", customer_review[i].key_kind, customer_review[i].key)] = \
                    (customer_review[i], {"code": col["customer_code"][i], "name": col["customer_name"][i],
                                          "extra": col["customer_region"][i]})
            if product_review[i]:
                wanted[("product", product_review[i].key_kind, product_review[i].key)] = \
                    (product_review[i], {"code": col["product_code"][i], "name": col["product_name"][i],
                                         "extra": col["specification"][i]})
        lap("write_rejected_waiting")
        items = _items(load, wanted)
        lap("review_items")
        rows = []
        for i in waiting:
            c, p = customer_review[i], product_review[i]
            rows.append((sub.id, sub.distributor_id, int(source_rows[i]),
                         items[("customer", c.key_kind, c.key)] if c else None,
                         items[("product", p.key_kind, p.key)] if p else None, values[i],
                         _raw(raw_records, raws, i), "waiting"))
        loading.copy_rows(PendingRow.__table__, ("submission_id", "distributor_id", "source_row",
                                                 "customer_item_id", "product_item_id", "values", "raw", "status"),
                          rows, json_text=("values", "raw"), defer=load.defer_copy)
    lap("write_rejected_waiting")
    loading.copy_columns(model.__table__, cols, columns, defer=load.defer_copy)
    lap("write_facts")
    load.counts["accepted"] += len(accepted)
    load.counts["rejected"] += len(rejected)
    load.counts["waiting"] += len(waiting)
    return {"accepted": accepted, "rejected": rejected, "waiting": waiting}


def _distinct(n: pd.DataFrame, col: _Columns, fields: tuple[str, ...], within: np.ndarray | None = None
              ) -> tuple[np.ndarray, list[tuple], np.ndarray]:
    """Each row's distinct combination of ``fields`` (and of its code in ``within``, an earlier such split): per
    row the index of its combination, the combinations as tuples of the row values in ``col``, and the first row of
    each. By hashing the columns (pandas' factorize), not by a loop over rows."""
    combined = np.zeros(len(n), dtype=np.int64) if within is None else within.astype(np.int64)
    span = 1 if within is None else int(within.max(initial=-1)) + 1
    for f in fields:
        if f not in n.columns:
            continue
        codes, uniques = pd.factorize(n[f].astype(object), use_na_sentinel=True)
        if span * (len(uniques) + 1) >= 1 << 62:  # keep the packed key inside int64
            combined, packed = pd.factorize(combined)
            span = len(packed)
        combined = combined * (len(uniques) + 1) + (codes + 1)
        span *= len(uniques) + 1
    codes, uniques = pd.factorize(combined)
    first = np.full(len(uniques), len(codes), dtype=np.int64)
    np.minimum.at(first, codes, np.arange(len(codes), dtype=np.int64))
    rows = first.tolist()
    return codes, list(zip(*([c[i] for i in rows] for c in (col[f] for f in fields)), strict=True)), first


def _add_flows(load: Load, rows: np.ndarray, quantities: np.ndarray, codes: tuple[np.ndarray, ...],
               values: tuple[list, ...]) -> None:
    """Add the accepted ``rows``' quantities to ``load.flows`` by (to-distributor, product, lot, day), summed per
    group of rows with the same product/unit/lot, to-distributor and date codes (all rows of a group have the same
    key: the first one's values are taken) instead of row by row."""
    group = np.zeros(len(rows), dtype=np.int64)
    for c in codes:
        c = c[rows].astype(np.int64) + 1  # -1 (missing) → 0
        group = group * (int(c.max(initial=0)) + 1) + c
    gcodes, uniques = pd.factorize(group)
    sums = np.zeros(len(uniques), dtype=np.int64)
    np.add.at(sums, gcodes, quantities)
    first = np.full(len(uniques), len(rows), dtype=np.int64)
    np.minimum.at(first, gcodes, np.arange(len(rows), dtype=np.int64))
    for total, i in zip(sums.tolist(), rows[first].tolist(), strict=True):
        load.flows[tuple(v[i] for v in values)] += total


def _spread(values: list, codes: np.ndarray) -> list:
    """Per row, the value of its combination (``values`` indexed by ``codes``)."""
    return np.fromiter(values, dtype=object, count=len(values))[codes].tolist()


def _expiry_differs(reported, ours: date) -> bool:
    """A reported expiry that is neither our lot's date nor its month (files often give 2027-08 for 2027-08-31)."""
    if not isinstance(reported, date) or reported is pd.NaT:
        return False
    return reported != ours and (reported.year, reported.month) != (ours.year, ours.month)


def _records(raws: pd.DataFrame, rows: list[int]) -> dict[int, str]:
    """The raw cells of just these rows as JSON objects of text (None when empty), converted column by column
    (converting a whole chunk to dicts costs seconds, and so does iterating Arrow-backed cells one by one)."""
    part = raws.iloc[rows]
    cells = {j: _texts(part.iloc[:, j]) for j in range(part.shape[1])}
    frame = pd.DataFrame(cells)
    frame.columns = list(part.columns)
    return dict(zip(rows, _json_lines(frame), strict=True))


class _Columns(dict):
    """A normalised chunk's columns as plain lists, missing values as None (pandas' NaN is truthy and never equal to
    itself; iterating an Arrow-backed column element by element is slow). An object column is taken as it is:
    :func:`ingestion.cleaning.normalise_chunk` and :func:`frame_from_values` leave None (NaT in a date column) in
    its missing cells, never NaN."""

    def __init__(self, n: pd.DataFrame):
        super().__init__()
        self.n, self.size = n, len(n)

    def __missing__(self, key):
        if key not in self.n.columns:
            value = [None] * self.size
        else:
            series = self.n[key]
            if series.dtype == object:  # missing cells are already None (NaT for dates): see frame_from_values
                value = series.tolist()
            else:
                value = series.astype(object).where(series.notna(), None).tolist()
            value = [None if v is pd.NaT else v for v in value] if key in _DATE_COLUMNS else value
        self[key] = value
        return value


_DATE_COLUMNS = ("business_date", "as_of", "expires_on")


def _raw(records, raws: pd.DataFrame, i: int) -> str:
    if records is not None:
        return records[i]  # already JSON
    return json.dumps({k: _cell_text(v) for k, v in raws.iloc[i].to_dict().items()}, ensure_ascii=False)


def _texts(series: pd.Series) -> list:
    """:func:`_cell_text` of a column's cells; a column of text and empty cells only (nearly always) by pandas in C."""
    values = series.astype(object).where(series.notna(), None).tolist()
    if pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
        return values
    return [_cell_text(v) for v in values]


def _cell_text(v) -> str | None:
    """A raw cell as kept with a rejected or waiting row: its text, None when empty."""
    return None if v is None or (isinstance(v, float) and v != v) else str(v)


def _detail(codes: list[str]) -> str:
    return "；".join(str(cleaning.REASONS.get(c, c)) for c in dict.fromkeys(codes))


def _dec(value):
    return value if isinstance(value, Decimal) else None


def _money_text(value) -> str | None:
    """A fact's money cell as COPY takes it: a Decimal's exact text, None for anything else."""
    return str(value) if isinstance(value, Decimal) else None


def _date_or_none(value):
    return value if isinstance(value, date) and value is not pd.NaT else None


_JSON_FIELDS = ("business_date", "as_of", "customer_name", "customer_code", "customer_region", "supplier_name",
                "supplier_code", "product_code", "product_name", "specification", "lot_no", "expires_on",
                "quantity", "unit", "unit_price", "amount")


def _json_value(v):
    if v is None or v is pd.NaT or v is pd.NA or (isinstance(v, float) and v != v):
        return None
    if isinstance(v, date | Decimal):
        return str(v)
    return v if isinstance(v, str) else int(v) if isinstance(v, int | np.integer) else str(v)


def _json_values(n: pd.DataFrame) -> list[str]:
    """The normalised rows as JSON objects, converted column by column and encoded by pandas' C encoder."""
    names = [*(f for f in _JSON_FIELDS if f in n.columns), ROW]
    return _json_lines(pd.DataFrame({k: _json_column(n[k]) for k in names}, columns=names))


def _json_column(series: pd.Series) -> list:
    """:func:`_json_value` of every cell of a column, the missing cells found by pandas in C; a column of one
    kind (text, dates, Decimals, integers) converts only its present cells, by one function."""
    present = series.notna().to_numpy()
    cells = series.astype(object).to_numpy()
    kind = pd.api.types.infer_dtype(series, skipna=True)
    convert = {"string": None, "empty": None, "date": date.isoformat, "decimal": str,
               "integer": int}.get(kind, _json_value)
    out = np.full(len(cells), None, dtype=object)
    if present.any():
        kept = cells[present]
        out[present] = kept if convert is None else [convert(v) for v in kept]
    return out.tolist()


def _json_lines(frame: pd.DataFrame) -> list[str]:
    """Each row of ``frame`` (cells str, int or None) as the text of one JSON object."""
    if not len(frame):
        return []
    if not frame.columns.is_unique:  # pandas encodes records by column name
        return [json.dumps(dict(zip(frame.columns, row, strict=True)), ensure_ascii=False)
                for row in frame.itertuples(index=False)]
    return frame.to_json(orient="records", lines=True, force_ascii=False).rstrip("\n").split("\n")


def frame_from_values(values: list[dict]) -> pd.DataFrame:
    """Normalised rows back from PendingRow.values (the inverse of the JSON encoding above)."""
    rows = []
    for v in values:
        row = dict(v)
        for k in ("business_date", "as_of", "expires_on"):
            if row.get(k):
                row[k] = date.fromisoformat(row[k])
        for k in ("unit_price", "amount"):
            if row.get(k) is not None:
                row[k] = Decimal(row[k])
        row[cleaning.PROBLEMS] = []
        rows.append(row)
    frame = pd.DataFrame(rows)
    for k in (*_JSON_FIELDS, ROW):
        if k not in frame.columns:
            frame[k] = None
    frame["quantity"] = pd.array([None if q is None else int(q) for q in frame["quantity"]], dtype="Int64")
    frame = frame.astype({k: object for k in _JSON_FIELDS if k != "quantity"})
    text = [k for k in _JSON_FIELDS if k != "quantity"]  # as normalise_chunk makes them: None where missing, never NaN
    frame[text] = frame[text].where(frame[text].notna(), None)
    return frame


def _items(load: Load, wanted: dict[tuple, tuple[Resolution, dict]]) -> dict[tuple, int]:
    """The open review item of each (subject, key kind, key), created on first sight (in bulk: one COPY, the ids
    read back through the open-key unique index), by id."""
    missing = [k for k in wanted if k not in load.items]
    if missing:
        _open_item_ids(load, {k[2] for k in missing})
    new = [k for k in missing if k not in load.items]
    if new:
        r = load.resolver
        labels = r.terminal_labels(cid for k in new if k[0] == "customer" for cid, _s in wanted[k][0].candidates)
        now = utcnow()
        rows = []
        for k in new:
            res, raw = wanted[k]
            if k[0] == "customer":
                candidates = [{"id": cid, "score": float(score), "label": labels.get(cid, str(cid))}
                              for cid, score in res.candidates]
                region = r.regions.parse(raw["extra"]) or r.default_region
            else:
                candidates = [{"id": pid, "score": float(score), "label": label}
                              for pid, score, label in res.candidates]
                region = None
            rows.append((load.sub.distributor_id, *k, (raw["name"] or raw["code"] or "")[:300], raw["code"],
                         (raw["extra"] or None) and str(raw["extra"])[:300], region, candidates, 0, "open", now))
        loading.copy_rows(ReviewItem.__table__, ("distributor_id", "subject", "key_kind", "key", "raw_name",
                                                 "raw_code", "raw_extra", "region_id", "candidates",
                                                 "rows_waiting", "status", "created_at"),
                          rows, json_columns=("candidates",))
        _open_item_ids(load, {k[2] for k in new})
    return {k: load.items[k] for k in wanted}


def _open_item_ids(load: Load, keys: set[str]) -> None:
    """Remember the ids of the distributor's open review items with these keys (``load.items``)."""
    for subject, key_kind, key, item_id in db.session.execute(
            select(ReviewItem.subject, ReviewItem.key_kind, ReviewItem.key, ReviewItem.id).where(
                ReviewItem.distributor_id == load.sub.distributor_id, ReviewItem.status == "open",
                loading.among(ReviewItem.key, keys))):
        load.items.setdefault((subject, key_kind, key), item_id)


# -- the end of the load ------------------------------------------------------------------------------------------
def _finish(load: Load, table: reading.Table) -> str:
    sub = load.sub
    counts = load.counts
    if counts["read"] == 0:
        raise SubmissionRejected("header_only", str(reading.MESSAGES["header_only"]))
    share = float(current_app.config.get("INGEST_MAX_REJECTED_SHARE", 0.5))
    sub.rows_read, sub.rows_accepted = counts["read"], counts["accepted"]
    sub.rows_rejected, sub.rows_review = counts["rejected"], counts["waiting"]
    sub.notes = {**(sub.notes or {}), "title_lines": table.title_lines[:5], "dropped": dict(table.dropped),
                 "reasons": dict(load.reasons.most_common()), "header_row": table.header_row}
    sub.processed_at = utcnow()
    if counts["rejected"] > share * counts["read"]:
        return _refuse_mostly_rejected(load)
    lap = load.laps
    lap.restart()
    previous = make_current(sub)
    if load.kind == DataKind.SELL_OUT.value:
        post_stock(load, previous)
    lap("post_stock")
    _count_waiting(load)
    hooks.facts_changed(hooks.FactsChanged(
        distributor_id=sub.distributor_id, kind=sub.kind, months=frozenset(months_between(sub.period_start,
                                                                                         sub.period_end)),
        added_submission_id=sub.id, removed_submission_id=previous.id if previous else None))
    lap("listeners")  # the coverage rollups and diversion flags (distribution)
    sub.notes = {**sub.notes, "timings": load.laps.rounded()}
    log.info("submission %s loaded: %s", sub.id, ", ".join(f"{k} {v:.2f} s" for k, v in load.laps.seconds.items()))
    db.session.flush()
    notify_submitter(sub)
    progress.report(sub.id, "loaded", counts["read"], counts["read"], counts["read"])
    return sub.status


def _refuse_mostly_rejected(load: Load) -> str:
    """More than the allowed share of rows rejected: load nothing (the current version stays), keep the rejected
    rows and their reasons for the report."""
    sub = load.sub
    for model in (SellOutFact, PurchaseFact, InventoryFact, PendingRow):
        db.session.execute(delete(model).where(model.submission_id == sub.id))  # written in this transaction only
    if load.items:  # the items no other submission's rows wait on
        p = PendingRow
        db.session.execute(delete(ReviewItem).where(
            loading.among(ReviewItem.id, load.items.values()),
            ~exists().where((p.customer_item_id == ReviewItem.id) | (p.product_item_id == ReviewItem.id)))
            .execution_options(synchronize_session=False))
    top = reason_summary(load.reasons)
    sub.status, sub.error_code = S.FAILED.value, "too_many_rejected"
    sub.error_message = _("%(rejected)d of %(read)d rows were rejected, so nothing was loaded and the current "
                          "version (if any) stays. Most common reasons: %(top)s.", rejected=sub.rows_rejected,
                          read=sub.rows_read, top=top)
    sub.rows_accepted = sub.rows_review = 0
    db.session.flush()
    notify_submitter(sub)
    progress.report(sub.id, "failed")
    return sub.status


def reason_summary(reasons: Counter, limit: int = 3) -> str:
    """The commonest rejection reasons with their row counts, as one phrase of the user's language."""
    return _("; ").join(ngettext("%(reason)s (%(num)d row)", "%(reason)s (%(num)d rows)", k,
                                 reason=str(cleaning.REASONS.get(c, c)).rstrip("。."))
                        for c, k in reasons.most_common(limit))


def make_current(sub: Submission) -> Submission | None:
    """Make ``sub`` the current version of its distributor × kind × period; the previous current version (returned)
    becomes superseded and its rows still waiting for review are dropped."""
    key = (Submission.distributor_id == sub.distributor_id, Submission.kind == sub.kind,
           Submission.period_start == sub.period_start, Submission.period_end == sub.period_end)
    previous = db.session.execute(select(Submission).where(*key, Submission.is_current).with_for_update()
                                  ).scalar_one_or_none()
    last = db.session.execute(select(func.max(Submission.version)).where(
        *key, Submission.status.in_((S.LOADED.value, S.SUPERSEDED.value)))).scalar() or 0
    if previous is not None:
        previous.is_current, previous.status = False, S.SUPERSEDED.value
        db.session.flush()
        db.session.execute(update(PendingRow).where(PendingRow.submission_id == previous.id,
                                                    PendingRow.status == "waiting").values(status="superseded"))
    sub.is_current, sub.status, sub.version = True, S.LOADED.value, last + 1
    sub.supersedes_id = previous.id if previous else None
    db.session.flush()
    return previous


def post_stock(load: Load, previous: Submission | None) -> None:
    """Post the accepted sell-out into channel stock (aggregated per location × product × lot × day), reversing
    what the previous version posted; record what the stock could not cover."""
    sub = load.sub
    if load.location_id is None:
        if load.flows:
            sub.notes = {**(sub.notes or {}), "stock": "no_location"}
        return
    dest = _locations_of({d for d, *_rest in load.flows if d})
    flows = []
    for (to_dist, product_id, lot_id, day), qty in load.flows.items():
        if to_dist is not None and to_dist not in dest:
            continue  # a tier-2 distributor without a stock location: counted in the facts only
        flows.append(inventory.ReportedFlow("transfer" if to_dist else "sell_out", load.location_id, product_id,
                                            lot_id, qty, day, dest.get(to_dist)))
    result = inventory.post_reported_flows(
        posting_reference(sub.id), flows, replaces=posting_reference(previous.id) if previous else None,
        note=_("Reported %(kind)s, submission %(id)d", kind=kind_label(sub.kind), id=sub.id), write=loading.copy_rows)
    if result.shortfalls:
        loading.copy_rows(StockShortfall.__table__, ("submission_id", "distributor_id", "location_id", "product_id",
                                                     "lot_id", "requested", "posted", "reason"),
                          [(sub.id, sub.distributor_id, s.location_id, s.product_id, s.lot_id, s.requested,
                            s.posted, s.reason) for s in result.shortfalls])
    notes = dict(sub.notes or {})
    for key, value in (("movements", result.movements), ("reversals", result.reversals), ("posted", result.quantity),
                       ("shortfalls", len(result.shortfalls))):
        notes[key] = notes.get(key, 0) + value
    sub.notes = notes


def _locations_of(distributor_ids: set[int]) -> dict[int, int]:
    out: dict[int, int] = {}
    if distributor_ids:
        for d_id, loc_id in db.session.execute(
                select(StockLocation.distributor_id, StockLocation.id)
                .where(StockLocation.distributor_id.in_(distributor_ids), StockLocation.kind == "distributor",
                       StockLocation.active).order_by(StockLocation.id.desc())):
            out[d_id] = loc_id
    return out


def _count_waiting(load: Load) -> None:
    refresh_waiting(list(load.items.values()))


def refresh_waiting(item_ids: list[int]) -> None:
    """Recount the rows waiting on each of these review items (one statement)."""
    if not item_ids:
        return
    p, wanted = PendingRow, set(item_ids)
    for column in (p.customer_item_id, p.product_item_id):
        counts = (select(func.count(p.id)).where(column == ReviewItem.id, p.status == "waiting")
                  .correlate(ReviewItem).scalar_subquery())
        db.session.execute(update(ReviewItem).where(loading.among(ReviewItem.id, item_ids), ReviewItem.subject == (
            "customer" if column is p.customer_item_id else "product")).values(rows_waiting=counts)
            .execution_options(synchronize_session=False))
    for item in db.session.identity_map.values():
        if isinstance(item, ReviewItem) and item.id in wanted:
            db.session.expire(item, ["rows_waiting"])


def notify_submitter(sub: Submission) -> None:
    """One notification per outcome, to the submitter's role (scoped to the distributor)."""
    role = "channel_manager"
    if sub.submitted_by_id:
        role = db.session.execute(select(User.role).where(User.id == sub.submitted_by_id)).scalar() or role
    title = outcome_text(sub)
    key = f"submission:{sub.id}:{sub.status}:{sub.attempts}"
    if db.session.execute(select(Notification.id).where(Notification.dedupe_key == key)).first():
        return
    db.session.add(Notification(audience_role=role, distributor_id=sub.distributor_id, kind="submission",
                                dedupe_key=key, title=title[:200], body=sub.error_message,
                                link=f"/ingestion/submissions/{sub.id}"))
    db.session.flush()


def outcome_text(sub: Submission) -> str:
    what = f"{sub.filename} ({kind_label(sub.kind)} {sub.period_start:%Y-%m-%d}–{sub.period_end:%Y-%m-%d})"
    if sub.status == S.LOADED.value:
        return _("%(what)s loaded: %(read)d rows read, %(ok)d accepted, %(bad)d rejected, %(wait)d waiting for "
                 "review.", what=what, read=sub.rows_read, ok=sub.rows_accepted, bad=sub.rows_rejected,
                 wait=sub.rows_review)
    if sub.status == S.NEEDS_MAPPING.value:
        return _("%(what)s has a new column layout: its mapping needs to be confirmed once.", what=what)
    if sub.status == S.FAILED.value:
        return _("%(what)s was not loaded: %(reason)s", what=what, reason=sub.error_message or "")
    return what
