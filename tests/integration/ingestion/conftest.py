"""A small channel for ingestion: a tier-1 distributor in 杭州 with a tier-2 below it, another distributor, two
products with three lots in the tier-1's warehouse, a handful of terminals; file builders; and ``ingest``, which
runs a file through the real intake and pipeline units of work inside the test's transaction (savepoints stand in
for the task's commits, so a refused load rolls back exactly as in production).

Stock at the tier-1 (ING-D1) before any report:   L1 (P1, exp 2027-08-31) 500 · L2 (P1, exp 2028-02-29) 300 ·
L3 (P2, exp 2027-12-31) 200.
"""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from openpyxl import Workbook
from sqlalchemy import select

from app.models import StockLocation
from tests.integration.test_worker import redis_queue, start_celery, worker_database  # noqa: F401  (fixtures)

SELL_HEADERS = ["销售日期", "客户名称", "产品编码", "产品名称", "规格", "批号", "有效期至", "数量", "单位", "单价",
                "金额"]


def csv_bytes(rows, headers=SELL_HEADERS, *, encoding="gbk", title=None, total=True) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    for line in title or ():
        w.writerow([line])
    w.writerow(headers)
    for r in rows:
        w.writerow(r)
    if total:
        w.writerow(["合计", "", "", "", "", "", "", sum(int(r[7]) for r in rows if str(r[7]).lstrip("-").isdigit())])
    return buf.getvalue().encode(encoding)


def xlsx_bytes(rows, headers=SELL_HEADERS, *, title=None) -> bytes:
    wb = Workbook()
    ws = wb.active
    for line in title or ():
        ws.append([line])
    ws.append(headers)
    for r in rows:
        ws.append(list(r))
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def sale(day="2026-05-10", customer="杭州市第一人民医院", code="ING-P1", name="阿莫西林胶囊", spec="0.25g*24粒",
         lot="L1", expiry="2027-08-31", qty=10, unit="盒", price="12.50", amount=None):
    amount = amount if amount is not None else f"{int(qty) * float(price):.2f}"
    return [day, customer, code, name, spec, lot, expiry, qty, unit, price, amount]


@pytest.fixture
def world(db_session, make_distributor, make_product, make_terminal, make_user):
    from inventory import services

    d1 = make_distributor(code="ING-D1", name="浙江英格医药有限公司", region_code="330100")
    d2 = make_distributor(code="ING-D2", name="杭州下城二级医药有限公司", tier=2, parent_code="ING-D1",
                          region_code="330100")
    other = make_distributor(code="ING-X9", name="江苏别家医药有限公司", region_code="320100")
    p1 = make_product(code="ING-P1", generic_name="阿莫西林胶囊", specification="0.25g*24粒", pack_size=100)
    p2 = make_product(code="ING-P2", generic_name="布洛芬缓释胶囊", specification="0.3g*20粒", pack_size=50)
    wh = StockLocation(code="ING-WH", name="总仓", kind="manufacturer")
    db_session.add(wh)
    db_session.flush()
    lots = {"L1": services.register_lot(p1, "L1", date(2025, 9, 1), date(2027, 8, 31)),
            "L2": services.register_lot(p1, "L2", date(2026, 3, 1), date(2028, 2, 29)),
            "L3": services.register_lot(p2, "L3", date(2025, 1, 1), date(2027, 12, 31))}
    loc = {d.code: db_session.execute(select(StockLocation).where(StockLocation.distributor_id == d.id)).scalar_one()
           for d in (d1, d2, other)}
    for lot, qty in (("L1", 500), ("L2", 300), ("L3", 200)):
        services.post_movement("receipt", lots[lot], qty + 100, to_location=wh, on_date=date(2026, 4, 1))
        services.post_movement("shipment", lots[lot], qty, from_location=wh, to_location=loc["ING-D1"],
                               on_date=date(2026, 4, 2))
    terminals = {
        "t1": make_terminal(code="ING-T1", name="杭州市第一人民医院", region_code="330106"),
        "t2": make_terminal(code="ING-T2", name="浙江大学医学院附属第二医院", region_code="330102"),
        "t3": make_terminal(code="ING-T3", name="杭州老百姓大药房连锁有限公司文三路店", type="pharmacy",
                            region_code="330106"),
    }
    return {"d1": d1, "d2": d2, "other": other, "p1": p1, "p2": p2, "lots": lots, "loc": loc, "wh": wh,
            "user": make_user("distributor", d1), "manager": make_user("channel_manager"), **terminals}


@pytest.fixture
def ingest(db_session, world):
    """ingest(data, filename=..., kind=..., period=..., distributor=..., user=...) -> the submission, processed."""
    from ingestion import intake

    def run(data: bytes, filename="流向.csv", kind="sell_out", period="2026-05", distributor=None, user=None,
            period_kind="month", confirm=True):
        sub = intake.receive_file(io.BytesIO(data), filename, distributor or world["d1"], kind,
                                  intake.parse_period(period_kind, period), source="upload",
                                  submitted_by=user or world["user"])
        process(sub.id, confirm=confirm)
        db_session.refresh(sub)
        return sub

    return run


def process(submission_id: int, confirm: bool = True) -> str:
    """The task's three units of work, with savepoints for commits; ``confirm``: confirm a proposed mapping as a
    person would (accepting the proposal) and process again."""
    from app.extensions import db
    from ingestion import layouts, pipeline
    from ingestion.models import MappingTemplate, Submission

    with db.session.begin_nested():
        if not pipeline.claim_submission(submission_id):
            return db.session.get(Submission, submission_id).status
    try:
        with db.session.begin_nested():
            status = pipeline.load_submission(submission_id)
    except pipeline.SubmissionRejected as exc:
        with db.session.begin_nested():
            pipeline.fail_submission(submission_id, exc.code, exc.message)
        return "failed"
    if status == "needs_mapping" and confirm:
        sub = db.session.get(Submission, submission_id)
        template = db.session.get(MappingTemplate, sub.template_id)
        layouts.confirm_template(template, dict(template.columns), user=None, enqueue=False)
        return process(submission_id, confirm=False)
    return status


@pytest.fixture
def layout(db_session, world):
    """The sell-out layout of :data:`SELL_HEADERS` confirmed for ING-D1 (for tests whose point is elsewhere)."""
    from app.models.base import utcnow
    from ingestion import mapping
    from ingestion.models import MappingTemplate

    proposal = mapping.propose_mapping(SELL_HEADERS, "sell_out")
    tpl = MappingTemplate(distributor_id=world["d1"].id, kind="sell_out", signature=mapping.layout_signature(
        SELL_HEADERS), headers=SELL_HEADERS, columns=dict(proposal.columns), confirmed_at=utcnow())
    db_session.add(tpl)
    db_session.flush()
    return tpl
