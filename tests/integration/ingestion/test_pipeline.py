"""The pipeline end to end on PostgreSQL: facts, rejected rows with reasons, review, stock, replacement."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from ingestion.models import RejectedRow, SellOutFact
from inventory.models import StockBalance, StockMovement
from tests.integration.ingestion.conftest import csv_bytes, sale


def _balance(db_session, loc, lot) -> int:
    return db_session.execute(select(StockBalance.quantity).where(StockBalance.location_id == loc.id,
                                                                  StockBalance.lot_id == lot.id)).scalar() or 0


def test_a_gbk_sell_out_file_loads_facts_and_posts_stock(db_session, world, ingest):
    rows = [sale(qty=10), sale(day="2026/5/12", customer="浙江大学医学院附属第二医院", qty=2, unit="件"),
            sale(lot="L2", expiry="2028-02-29", qty=30)]
    sub = ingest(csv_bytes(rows, title=["浙江英格医药有限公司 2026年5月销售流向"]))
    assert sub.status == "loaded", (sub.error_code, sub.error_message)
    assert (sub.rows_read, sub.rows_accepted, sub.rows_rejected, sub.rows_review) == (3, 3, 0, 0)
    facts = db_session.execute(select(SellOutFact.terminal_id, SellOutFact.quantity, SellOutFact.lot_id)
                               .where(SellOutFact.submission_id == sub.id).order_by(SellOutFact.source_row)).all()
    assert [f.quantity for f in facts] == [10, 200, 30]  # 2 件 × pack size 100
    assert facts[1].terminal_id == world["t2"].id
    loc = world["loc"]["ING-D1"]
    assert _balance(db_session, loc, world["lots"]["L1"]) == 500 - 210
    assert _balance(db_session, loc, world["lots"]["L2"]) == 300 - 30
    assert db_session.execute(select(func.count()).select_from(RejectedRow)).scalar() == 0
    assert sub.is_current and sub.version == 1
    moves = db_session.execute(select(StockMovement.kind, StockMovement.quantity, StockMovement.business_date)
                               .where(StockMovement.reference == f"ING-{sub.id}")).all()
    assert sorted(moves) == sorted([("sell_out", 10, date(2026, 5, 10)), ("sell_out", 200, date(2026, 5, 12)),
                                    ("sell_out", 30, date(2026, 5, 10))])
