"""Opening balances from Excel: lots registered, opening movements posted, all or nothing with every problem."""

import io
from datetime import date, datetime

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from app.masterdata.services import ImportFailed
from inventory import services
from inventory.models import Lot, StockBalance, StockMovement
from inventory.opening import import_opening_balances

HEADER = ["库位编码", "产品编码", "批号", "生产日期", "有效期至", "数量"]


def xlsx(rows, header=HEADER, title=None) -> io.BytesIO:
    wb = Workbook()
    ws = wb.active
    if title:
        ws.append([title])
    ws.append(header)
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    buf.seek(0)
    return buf


@pytest.fixture
def setup(db_session, make_product, make_distributor):
    from app.models import StockLocation

    wh = StockLocation(code="OP-WH", name="总仓", kind="manufacturer")
    db_session.add(wh)
    d = make_distributor(code="OP-D1")
    db_session.flush()
    return {"wh": wh, "d": d, "p": make_product(code="OP-P1"), "p2": make_product(code="OP-P2")}


def counts(db_session):
    return tuple(db_session.execute(select(func.count()).select_from(m)).scalar_one()
                 for m in (Lot, StockMovement, StockBalance))


def test_imports_lots_and_balances(db_session, setup):
    rows = [["OP-WH", "OP-P1", "A1", date(2025, 1, 1), date(2027, 1, 1), 100],
            ["WH-OP-D1", "OP-P1", "A1", datetime(2025, 1, 1), "2027-01-01", 40],
            ["OP-WH", "OP-P2", "B1", "2025/03/01", "2027年3月1日", "1,000"]]
    result = import_opening_balances(xlsx(rows, title="期初库存 2026"))
    assert (result.rows, result.lots_created, result.quantity) == (3, 2, 1140)
    got = db_session.execute(select(Lot.lot_no, StockBalance.quantity).join(Lot, Lot.id == StockBalance.lot_id)
                             .order_by(Lot.lot_no, StockBalance.quantity)).all()
    assert [tuple(r) for r in got] == [("A1", 40), ("A1", 100), ("B1", 1000)]
    kinds = db_session.execute(select(StockMovement.kind).distinct()).scalars().all()
    assert kinds == ["opening"]
    for b in db_session.execute(select(StockBalance)).scalars():
        assert b.quantity == services.ledger_sum(b.location_id, b.lot_id)


def test_every_bad_row_is_reported_and_nothing_is_written(db_session, setup):
    services.register_lot(setup["p"], "OLD", date(2025, 1, 1), date(2027, 1, 1))
    before = counts(db_session)
    rows = [
        ["OP-WH", "OP-P1", "GOOD", date(2025, 1, 1), date(2027, 1, 1), 10],  # 2: fine, but not written
        ["OP-WH", "OP-P1", "Z1", date(2025, 1, 1), date(2027, 1, 1), 0],  # 3: zero
        ["OP-WH", "OP-P1", "Z2", date(2025, 1, 1), date(2027, 1, 1), -5],  # 4: negative
        ["OP-WH", "OP-P1", "Z3", date(2025, 1, 1), date(2024, 1, 1), 5],  # 5: expiry before manufacture
        ["OP-WH", "OP-P1", "OLD", date(2025, 2, 1), date(2027, 1, 1), 5],  # 6: known lot, other dates
        ["NOPE", "OP-P1", "Z4", date(2025, 1, 1), date(2027, 1, 1), 5],  # 7: unknown location
        ["OP-WH", "NOPE", "Z5", date(2025, 1, 1), date(2027, 1, 1), 5],  # 8: unknown product
        ["OP-WH", "OP-P1", "Z6", "yesterday", date(2027, 1, 1), 5],  # 9: bad date
        ["OP-WH", "OP-P1", "Z7", date(2025, 1, 1), date(2027, 1, 1), 2.5],  # 10: not whole
        ["OP-WH", "OP-P1", "GOOD", date(2025, 1, 1), date(2027, 6, 1), 5],  # 11: same lot, other dates in the file
        ["OP-WH", "OP-P1", "GOOD", date(2025, 1, 1), date(2027, 1, 1), 5],  # 12: same location × lot twice
        ["OP-WH", "OP-P1", None, date(2025, 1, 1), date(2027, 1, 1), 5],  # 13: no lot number
    ]
    with pytest.raises(ImportFailed) as exc:
        import_opening_balances(xlsx(rows))
    by_row = {}
    for e in exc.value.errors:
        by_row.setdefault(e.row, []).append((e.column, e.message))
    assert sorted(by_row) == list(range(3, 14))
    assert by_row[3][0][0] == "数量" and by_row[4][0][0] == "数量"
    assert by_row[5][0][0] == "有效期至" and "2024-01-01" in by_row[5][0][1]
    assert by_row[6][0][0] == "批号" and "2025-01-01" in by_row[6][0][1]  # says which dates the lot has
    assert by_row[7][0][0] == "库位编码" and "NOPE" in by_row[7][0][1]
    assert by_row[8][0][0] == "产品编码"
    assert by_row[9][0][0] == "生产日期"
    assert by_row[10][0][0] == "数量"
    assert "2" in by_row[11][0][1]  # points at row 2
    assert "2" in by_row[12][0][1]
    assert by_row[13][0][0] == "批号"
    assert counts(db_session) == before


def test_the_same_opening_twice_is_refused(db_session, setup):
    rows = [["OP-WH", "OP-P1", "A1", date(2025, 1, 1), date(2027, 1, 1), 100]]
    import_opening_balances(xlsx(rows))
    before = counts(db_session)
    with pytest.raises(ImportFailed) as exc:
        import_opening_balances(xlsx(rows))
    assert "A1" in exc.value.errors[0].message and "OP-WH" in exc.value.errors[0].message
    assert counts(db_session) == before


@pytest.mark.parametrize("content, problem", [
    (b"not an excel file", "Excel"),
    (None, "数量"),
])
def test_bad_files(db_session, setup, content, problem):
    stream = io.BytesIO(content) if content else xlsx([], header=HEADER[:5])
    with pytest.raises(ImportFailed) as exc:
        import_opening_balances(stream)
    assert problem in " ".join(f"{e.column} {e.message}" for e in exc.value.errors)


def test_empty_file(db_session, setup):
    with pytest.raises(ImportFailed):
        import_opening_balances(xlsx([]))
