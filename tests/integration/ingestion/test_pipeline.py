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


def test_every_rejected_row_is_kept_with_its_reasons(db_session, world, ingest):
    rows = [sale(qty=10),
            sale(day="2026-04-30"),  # outside May
            sale(qty=0),
            sale(code="NOPE-1", name="不存在的药", spec="1g"),
            sale(lot="L9"),  # not one of our lots
            sale(expiry="2029-01-31"),  # L1 expires 2027-08-31
            sale(qty=10, price="12.50", amount="999.00"),
            sale(qty=10),  # the same line as the first: duplicate
            sale(qty=5, unit="吨")]
    rows += [sale(qty=q) for q in range(11, 21)]  # enough good rows (a file mostly rejected is refused whole)
    sub = ingest(csv_bytes(rows))
    assert sub.status == "loaded", sub.error_message
    assert (sub.rows_read, sub.rows_accepted, sub.rows_rejected) == (19, 11, 8)
    got = dict(db_session.execute(select(RejectedRow.source_row, RejectedRow.reasons)
                                  .where(RejectedRow.submission_id == sub.id)).all())
    assert got == {3: "date_outside_period", 4: "quantity_zero", 5: "unknown_product", 6: "lot_unknown",
                   7: "expiry_mismatch", 8: "amount_mismatch", 9: "duplicate_line", 10: "unknown_unit"}
    detail = db_session.execute(select(RejectedRow.detail, RejectedRow.raw).where(
        RejectedRow.submission_id == sub.id, RejectedRow.source_row == 3)).one()
    assert "期间" in detail.detail or "period" in detail.detail
    assert detail.raw["销售日期"] == "2026-04-30"


def test_a_replacement_reverses_the_previous_postings_and_is_never_double_counted(db_session, world, ingest):
    loc, lots = world["loc"]["ING-D1"], world["lots"]
    v1 = ingest(csv_bytes([sale(qty=100), sale(lot="L2", expiry="2028-02-29", qty=50)]), filename="v1.csv")
    assert _balance(db_session, loc, lots["L1"]) == 400
    v2 = ingest(csv_bytes([sale(qty=120)]), filename="v2.csv")
    db_session.refresh(v1)
    assert (v1.status, v1.is_current, v2.status, v2.is_current, v2.version, v2.supersedes_id) == \
        ("superseded", False, "loaded", True, 2, v1.id)
    assert _balance(db_session, loc, lots["L1"]) == 380  # 500 − 120, not 500 − 100 − 120
    assert _balance(db_session, loc, lots["L2"]) == 300  # v1's 50 given back
    counted = db_session.execute(select(func.sum(SellOutFact.quantity)).join(
        SellOutFact.__table__.c.submission_id.table.metadata.tables["submission"],
        SellOutFact.submission_id == SellOutFact.__table__.metadata.tables["submission"].c.id)
        .where(SellOutFact.__table__.metadata.tables["submission"].c.is_current)).scalar()
    assert counted == 120
    from inventory import channel, services

    for lot in ("L1", "L2"):
        assert services.ledger_sum(loc.id, lots[lot].id) == _balance(db_session, loc, lots[lot])
    parts = channel.ledger_components(world["d1"].id)
    assert parts[lots["L1"].id]["sold"] == 120 and parts[lots["L2"].id]["sold"] == 0


def test_reported_sell_out_beyond_computed_stock_is_recorded_not_posted(db_session, world, ingest):
    from ingestion.models import StockShortfall

    loc, lots = world["loc"]["ING-D1"], world["lots"]
    sub = ingest(csv_bytes([sale(qty=700), sale(code="ING-P2", name="布洛芬缓释胶囊", spec="0.3g*20粒", lot="",
                                                 expiry="", qty=50)]))
    assert sub.status == "loaded" and sub.rows_accepted == 2
    assert _balance(db_session, loc, lots["L1"]) == 0  # never below zero
    assert _balance(db_session, loc, lots["L3"]) == 150  # no lot reported: taken FEFO
    short = db_session.execute(select(StockShortfall.lot_id, StockShortfall.requested, StockShortfall.posted,
                                      StockShortfall.reason).where(StockShortfall.submission_id == sub.id)).all()
    assert short == [(lots["L1"].id, 700, 500, "short")]



def test_duplicate_lines_are_found_across_chunks(db_session, world, ingest, app, monkeypatch):
    """The duplicate check remembers every earlier chunk: a line repeated three chunks later is still rejected."""
    monkeypatch.setitem(app.config, "INGEST_CHUNK_ROWS", 3)
    rows = [sale(qty=q) for q in range(1, 13)]
    rows += [sale(qty=2), sale(qty=11), sale(qty=13), sale(qty=13)]  # lines 2 and 11 again, then 13 twice in a row
    sub = ingest(csv_bytes(rows))
    assert sub.status == "loaded", sub.error_message
    assert (sub.rows_read, sub.rows_accepted, sub.rows_rejected) == (16, 13, 3)
    got = dict(db_session.execute(select(RejectedRow.source_row, RejectedRow.reasons)
                                  .where(RejectedRow.submission_id == sub.id)).all())
    assert got == {14: "duplicate_line", 15: "duplicate_line", 17: "duplicate_line"}  # data row k is line k + 1


def test_lines_of_one_lot_and_day_are_posted_as_one_movement(db_session, world, ingest):
    """Lines that differ in customer, unit and how the expiry is written but not in lot and day are summed into one
    sell-out movement; a transfer to a tier-2 distributor the same day stays a movement of its own."""
    rows = [sale(qty=10), sale(customer="浙江大学医学院附属第二医院", qty=1, unit="件"),
            sale(qty=5, expiry="2027-08"), sale(customer="杭州下城二级医药有限公司", qty=7),
            sale(day="2026-05-11", qty=3)]
    sub = ingest(csv_bytes(rows))
    assert sub.status == "loaded", (sub.error_code, sub.error_message)
    assert (sub.rows_accepted, sub.rows_rejected, sub.rows_review) == (5, 0, 0)
    moves = db_session.execute(select(StockMovement.kind, StockMovement.quantity, StockMovement.business_date,
                                      StockMovement.to_distributor_id)
                               .where(StockMovement.reference == f"ING-{sub.id}")).all()
    sold = sorted((m.quantity, m.business_date) for m in moves if m.kind == "sell_out")
    assert sold == [(3, date(2026, 5, 11)), (115, date(2026, 5, 10))]  # 10 + 1 件 × 100 + 5
    assert [(m.quantity, m.to_distributor_id) for m in moves if m.kind != "sell_out"] == [(7, world["d2"].id)]
    assert _balance(db_session, world["loc"]["ING-D1"], world["lots"]["L1"]) == 500 - 115 - 3 - 7
