"""Demo channel data: a few months of distributors' files run through the real pipeline.

Registered from ``ingestion.init_app``. Three distributors (the two with demo logins among them) report their
sell-out as files instead of having it posted directly: the stock demo hands their planned sell-out of the last
three complete months over (``inventory.demo.report_sell_out_through``), and this extension writes it into monthly
files in three distributors' layouts (GBK CSV with a title row and a 合计 row; .xlsx with 2026/3/5 dates and 件;
UTF-8 CSV with 2026年3月5日 dates and product names instead of codes), with the terminal names varied as real files
vary them, a few customers nobody can match (rows waiting in the review queue) and a rejected line or two, then
runs each through :mod:`ingestion.intake` and the pipeline, which posts the sell-out into channel stock. Each
distributor also sends a month-end inventory snapshot (the reported column of the channel stock page), except the
last month of one distributor; another sends a sell-out file late (上报及时率: the last month whose lateness is
already visible on the business date). No file is sent after the business date. The first file of each layout
waits for its mapping, which the demo channel manager confirms, as a person would once.

Deterministic for a seed and business date (but a file sent on the business date itself, when that is today, is
stamped no later than now); adds and flushes only; nothing when submissions already exist.
"""

from __future__ import annotations

import csv
import io
import random
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select

from app import clock
from app.extensions import db
from app.models import Distributor, Product, Terminal, User
from ingestion.models import DropSource, MappingTemplate, PeriodClosing, ReportingSchedule, Submission
from ingestion.periods import month_end

REPORTING = 3  # distributors that send files
MONTHS = 3
LATE_DAYS = 4
DUE_DAY = 5  # files are due on this day of the next month (the demo's reporting schedules)
_TAKEN: list = []  # sell-out moves handed over by the stock demo, waiting for this extension


@dataclass(frozen=True)
class Layout:
    headers: tuple[str, ...]
    fmt: str  # csv-gbk | xlsx | csv-utf8
    date: str  # strftime-like style
    codes: bool  # our product codes in the file (else name + specification only)


LAYOUTS = (
    Layout(("销售日期", "客户名称", "产品编码", "产品名称", "规格", "批号", "有效期至", "数量", "单位", "单价", "金额"),
           "csv-gbk", "iso", True),
    Layout(("单据日期", "购货单位", "商品编码", "商品名称", "规格型号", "生产批号", "效期", "出库数量", "单位",
            "含税单价", "含税金额"), "xlsx", "slash", True),
    Layout(("日期", "客户", "品名", "规格", "批次", "有效期", "销售数量", "计量单位", "价格", "金额"), "csv-utf8", "cn",
           False),
)
INVENTORY_HEADERS = ("产品编码", "产品名称", "规格", "批号", "有效期", "库存数量", "单位")


def _months(today: date) -> list[date]:
    first = today.replace(day=1)
    out = []
    for _ in range(MONTHS):
        first = (first - timedelta(days=1)).replace(day=1)
        out.append(first)
    return sorted(out)


def _reporting(world) -> list:
    """The distributors that report by file: the demo logins' two, then tier-1s and a tier-2 by code."""
    from app.demo import DEMO_USERS

    logins = [dc for *_rest, dc in DEMO_USERS if dc]
    dists = sorted(world.distributors, key=lambda d: (d.code not in logins, d.tier, d.code))
    chosen = [d for d in dists if d.code in logins]
    chosen += [d for d in dists if d.tier == 1 and d not in chosen][:REPORTING - len(chosen) - 1]
    chosen += [d for d in dists if d.tier == 2][:1]
    return chosen[:REPORTING]


def take_sell_out(moves, world) -> list[int]:
    """The stock demo's taker: the reporting distributors' sell-out of the last complete months."""
    months = set(_months(world.today))
    locations = {d.location_id for d in _reporting(world)}
    taken = [i for i, m in enumerate(moves) if m.src in locations and m.on.replace(day=1) in months]
    _TAKEN[:] = [moves[i] for i in taken]
    return taken


# -- writing files ------------------------------------------------------------------------------------------------
def _day(value: date, style: str) -> str:
    if style == "slash":
        return f"{value.year}/{value.month}/{value.day}"
    if style == "cn":
        return f"{value.year}年{value.month}月{value.day}日"
    return value.isoformat()


def _vary(rng: random.Random, name: str) -> str:
    """How distributors' files write a terminal's name."""
    r = rng.random()
    if r < 0.08:
        return name.replace("市", "", 1)
    if r < 0.14:
        return f"{name}（本部）"
    if r < 0.18:
        return name.replace("有限公司", "").replace("(", "（").replace(")", "）")
    return name


def _table(layout: Layout, rows: list[list], title: str | None, total: bool) -> bytes:
    if layout.fmt == "xlsx":
        from openpyxl import Workbook

        wb = Workbook()
        ws = wb.active
        if title:
            ws.append([title])
        ws.append(list(layout.headers))
        for r in rows:
            ws.append(r)
        out = io.BytesIO()
        wb.save(out)
        return out.getvalue()
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    if title:
        w.writerow([title])
    w.writerow(layout.headers)
    w.writerows(rows)
    if total:
        qty_col = next(i for i, h in enumerate(layout.headers) if "数量" in h)
        w.writerow(["合计", *[""] * (qty_col - 1), sum(int(r[qty_col]) for r in rows if str(r[qty_col]).isdigit())])
    text = buf.getvalue()
    return text.encode("gb18030") if layout.fmt == "csv-gbk" else ("\ufeff" + text).encode("utf-8")


def _sell_out_rows(rng, layout: Layout, moves, products, terminals, lots, period: tuple[date, date]) -> list[list]:
    rows = []
    for m in sorted(moves, key=lambda m: (m.on, m.terminal_id, m.product_id)):
        p, t = products[m.product_id], terminals[m.terminal_id]
        expiry = lots[m.product_id, m.lot_no]
        qty, unit = m.quantity, "盒"
        if qty % p.pack_size == 0 and rng.random() < 0.5:
            qty, unit = qty // p.pack_size, "件"
        price = 8 + (p.id * 37) % 180 + 0.5
        unit_price = price * (p.pack_size if unit == "件" else 1)
        cells = [_day(m.on, layout.date), _vary(rng, t.name)]
        cells += [p.code, p.generic_name, p.specification] if layout.codes else [p.generic_name, p.specification]
        cells += [m.lot_no, expiry.isoformat(), qty, unit, f"{unit_price:.2f}", f"{qty * unit_price:.2f}"]
        rows.append(cells)
    if rows:  # a customer nobody knows (waits for review) and a line the pipeline rejects
        unknown = list(rows[rng.randrange(len(rows))])
        unknown[1] = rng.choice(("城西社区卫生服务站", "仁和堂大药房（新店）", "康宁门诊部", "惠民诊所"))
        rows.append(unknown)
        bad = list(rows[0])
        bad[0] = _day(period[0] - timedelta(days=1), layout.date)  # a line of the month before
        rows.append(bad)
    return rows


# -- the extension ------------------------------------------------------------------------------------------------
def seed_ingestion_demo(seed: int, today: date) -> str:
    """See the module docstring. Returns the summary lines."""
    started = time.perf_counter()
    if db.session.execute(select(Submission.id).limit(1)).first() is not None:
        return "channel data: submissions already present; nothing added"
    from inventory.demo import load_world

    world = load_world(today)
    if world is None:
        return "channel data: the demo world is missing; nothing added"
    rng = random.Random(f"{seed}:ingestion")
    reporting = _reporting(world)
    months = _months(today)
    manager = db.session.execute(select(User).where(User.role == "channel_manager").order_by(User.id)).scalars().first()
    users = {u.distributor_id: u for u in db.session.execute(select(User).where(User.role == "distributor")).scalars()}
    products = {p.id: p for p in db.session.execute(select(Product)).scalars()}
    from inventory.models import Lot

    lots = {(lot.product_id, lot.lot_no): lot.expires_on for lot in db.session.execute(select(Lot)).scalars()}
    by_location: dict[int, dict[date, list]] = defaultdict(lambda: defaultdict(list))
    for m in _TAKEN:
        by_location[m.src][m.on.replace(day=1)].append(m)
    terminal_ids = {m.terminal_id for m in _TAKEN}
    terminals = {t.id: t for t in db.session.execute(select(Terminal).where(Terminal.id.in_(terminal_ids))).scalars()}
    late = reporting[1].id if len(reporting) > 1 else None
    # the late file: the last month whose late sending day has come
    late_month = max((n for n, first in enumerate(months)
                      if month_end(first) + timedelta(days=DUE_DAY + LATE_DAYS) <= today), default=None)
    missing = reporting[-1].id if reporting else None
    counts = defaultdict(int)
    for k, info in enumerate(reporting):
        dist = db.session.get(Distributor, info.id)
        layout = LAYOUTS[k % len(LAYOUTS)]
        user = users.get(info.id) or manager
        for n, first in enumerate(months):
            period = (first, month_end(first))
            rows = _sell_out_rows(rng, layout, by_location[info.location_id].get(first, []), products, terminals,
                                  lots, period)
            if rows:
                title = f"{dist.name} {first.year}年{first.month}月销售流向" if layout.fmt == "csv-gbk" else None
                data = _table(layout, rows, title, total=layout.fmt != "xlsx")
                ext = "xlsx" if layout.fmt == "xlsx" else "csv"
                due = period[1] + timedelta(days=DUE_DAY)
                sent = due + timedelta(days=LATE_DAYS) if info.id == late and n == late_month else \
                    min(period[1] + timedelta(days=1 + rng.randrange(3)), today)  # never after today
                counts[_submit(data, f"{dist.code}_流向_{first:%Y-%m}.{ext}", dist, "sell_out", first, user,
                               manager, sent)] += 1
            if info.id == missing and n == len(months) - 1:
                continue  # this one has not sent its last stock report
            snapshot = _inventory_rows(info.location_id, period[1], products, rng)
            if snapshot:
                data = _table(Layout(INVENTORY_HEADERS, "csv-gbk", "iso", True), snapshot,
                              f"{dist.name} 库存日报 截止{period[1].isoformat()}", total=False)
                counts[_submit(data, f"{dist.code}_库存_{first:%Y-%m}.csv", dist, "inventory", first, user, manager,
                               min(period[1] + timedelta(days=2), today))] += 1
    _setup(reporting, months)
    _TAKEN.clear()
    subs = db.session.execute(select(func.count(Submission.id), func.sum(Submission.rows_accepted),
                                     func.sum(Submission.rows_review), func.sum(Submission.rows_rejected))).one()
    return (f"channel data: {subs[0]} submissions from {len(reporting)} distributors over {len(months)} months "
            f"({subs[1] or 0} rows loaded, {subs[2] or 0} waiting for review, {subs[3] or 0} rejected; "
            f"{dict(counts)}); {time.perf_counter() - started:.1f} s")


def _inventory_rows(location_id: int, as_of: date, products, rng) -> list[list]:
    """The distributor's stock per lot at the end of ``as_of`` by the ledger, as it would report it (one lot in a
    few counted a little short)."""
    from sqlalchemy import case

    from inventory.models import Lot
    from inventory.models import StockMovement as M

    signed = case((M.to_location_id == location_id, M.quantity), else_=-M.quantity)
    held = db.session.execute(
        select(Lot.product_id, Lot.lot_no, Lot.expires_on, func.sum(signed))
        .join(Lot, Lot.id == M.lot_id)
        .where((M.to_location_id == location_id) | (M.from_location_id == location_id), M.business_date <= as_of)
        .group_by(Lot.product_id, Lot.lot_no, Lot.expires_on).order_by(Lot.product_id, Lot.lot_no)).all()
    rows = []
    for product_id, lot_no, expires_on, qty in held:
        qty = int(qty)
        if qty <= 0:
            continue
        if rng.random() < 0.15:
            qty = max(qty - rng.randint(1, 5), 0)
        p = products[product_id]
        rows.append([p.code, p.generic_name, p.specification, lot_no, expires_on.isoformat(), qty, p.base_unit])
    return rows


def sent_at(day: date) -> datetime:
    """When a demo file sent on ``day`` arrived: 10:30 Beijing time, or now if that is later than now (a file
    sent today before 10:30)."""
    tz = clock.zone()
    at, now = datetime(day.year, day.month, day.day, 10, 30, tzinfo=tz), datetime.now(tz)
    return (now if at > now and day <= now.date() else at).astimezone(UTC)  # stored as UTC (SQLite keeps no zone)


def _submit(data: bytes, filename: str, dist, kind: str, first: date, user, manager, sent: date) -> str:
    """Through the intake and the pipeline units, as the task runs them (savepoints for its commits)."""
    from ingestion import intake, layouts, pipeline

    period = intake.Period("month", first, month_end(first))
    sub = intake.receive_file(io.BytesIO(data), filename, dist, kind, period, source="upload", submitted_by=user)
    sub.submitted_at = sent_at(sent)
    db.session.flush()
    for _attempt in (1, 2):
        with db.session.begin_nested():
            if not pipeline.claim_submission(sub.id):
                break
        try:
            with db.session.begin_nested():
                status = pipeline.load_submission(sub.id)
        except pipeline.SubmissionRejected as exc:
            with db.session.begin_nested():
                pipeline.fail_submission(sub.id, exc.code, exc.message)
            break
        if status != "needs_mapping":
            break
        template = db.session.get(MappingTemplate, sub.template_id)
        layouts.confirm_template(template, dict(template.columns), manager, enqueue=False)
    db.session.refresh(sub)
    return sub.status


def _setup(reporting, months: list[date]) -> None:
    """Due days, the distributors not (yet) reporting by file, a closed month, a drop folder."""
    from flask import current_app

    ids = {d.id for d in reporting}
    for kind in ("sell_out", "inventory"):
        db.session.add(ReportingSchedule(distributor_id=None, kind=kind, due_day=DUE_DAY))
    for d_id, in db.session.execute(select(Distributor.id).where(Distributor.status == "active")):
        if d_id not in ids:
            for kind in ("sell_out", "inventory"):
                db.session.add(ReportingSchedule(distributor_id=d_id, kind=kind, due_day=DUE_DAY, expected=False))
    closed = (months[0] - timedelta(days=1)).replace(day=1)
    db.session.add(PeriodClosing(distributor_id=None, month=closed, note="季度关账 / quarter closed"))
    if reporting:
        folder = f"{current_app.instance_path}/drop/{reporting[0].code}"
        import os

        os.makedirs(folder, exist_ok=True)
        db.session.add(DropSource(distributor_id=reporting[0].id, location=folder, pattern="*.csv"))
    db.session.flush()


def register() -> None:
    """Have ``flask drp seed-demo`` seed channel data (called from ``ingestion.init_app``)."""
    from app.demo import register_demo_extension
    from inventory.demo import report_sell_out_through

    report_sell_out_through(take_sell_out)
    register_demo_extension(seed_ingestion_demo)
