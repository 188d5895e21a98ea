"""A small, hand-computable channel: three distributors in three provinces, four lots, a year of movements.

Business date 2026-06-15; days-of-inventory window 90 days (sell-outs after 2026-03-17 count). Expected figures
(worked out by hand, asserted in the tests):

    lot  product  expiry       WH    Q   D1   D2   D3
    L1   P1       2026-08-01   600   20  140   15    -     47 days left: 90-day window
    L2   P1       2027-06-01   650    -  240    -    2
    L3   P2       2026-07-05   300    -    -    -  200     20 days left: 30-day window
    L4   P2       2026-06-01    10    -    -    -    -     expired

    D1 × P1: on hand 380, sold in window 150 (90 + 60; the 50 of 2026-03-01 is outside) → 228.0 days, over
    D2 × P1: on hand 15, sold 80 → 16.9 days, ok;  D3 × P1: 2, sold 48 → 3.8 days, under
    D3 × P2: 200, nothing sold → no figure (∞), over
"""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from app.models import Region, StockLocation
from inventory import services


@pytest.fixture
def channel_world(db_session, make_distributor, make_product, make_terminal):
    hz = db_session.execute(select(Region).where(Region.code == "330100")).scalar_one()
    wh = StockLocation(code="MAN-WH", name="杭州总仓", kind="manufacturer", region=hz)
    q = StockLocation(code="MAN-Q", name="隔离库", kind="quarantine")
    db_session.add_all([wh, q])
    d1 = make_distributor(code="CH-D1", name="浙江一级医药", region_code="330100")
    d2 = make_distributor(code="CH-D2", name="江苏二级医药", tier=2, parent_code="CH-D1", region_code="320100")
    d3 = make_distributor(code="CH-D3", name="广东一级医药", region_code="440100")
    db_session.flush()
    loc = {d.code: db_session.execute(select(StockLocation).where(StockLocation.distributor_id == d.id)).scalar_one()
           for d in (d1, d2, d3)}
    p1 = make_product(code="CH-P1", generic_name="阿莫西林胶囊", min_shelf_days_tier1=180, min_shelf_days_tier2=90)
    p2 = make_product(code="CH-P2", generic_name="布洛芬片")
    t1 = make_terminal(code="CH-T1", name="杭州第一医院")
    t2 = make_terminal(code="CH-T2", name="南京药房", type="pharmacy", region_code="320102")
    lots = {
        "L1": services.register_lot(p1, "L1", date(2024, 8, 1), date(2026, 8, 1)),
        "L2": services.register_lot(p1, "L2", date(2025, 6, 1), date(2027, 6, 1)),
        "L3": services.register_lot(p2, "L3", date(2024, 7, 5), date(2026, 7, 5)),
        "L4": services.register_lot(p2, "L4", date(2024, 6, 1), date(2026, 6, 1)),
    }
    D1, D2, D3 = loc["CH-D1"], loc["CH-D2"], loc["CH-D3"]

    def move(kind, lot, qty, on, src=None, dst=None, terminal=None):
        services.post_movement(kind, lots[lot], qty, from_location=src, to_location=dst, on_date=date(*on),
                               terminal=terminal, reference=f"{kind}-{lot}")

    move("receipt", "L1", 1000, (2026, 1, 10), dst=wh)
    move("receipt", "L2", 1000, (2026, 1, 10), dst=wh)
    move("receipt", "L3", 500, (2026, 1, 10), dst=wh)
    move("receipt", "L4", 10, (2026, 1, 10), dst=wh)
    move("shipment", "L1", 400, (2026, 2, 1), wh, D1)
    move("shipment", "L2", 300, (2026, 4, 1), wh, D1)
    move("transfer", "L1", 100, (2026, 4, 10), D1, D2)
    move("sell_out", "L1", 50, (2026, 3, 1), D1, terminal=t1)
    move("sell_out", "L1", 90, (2026, 5, 1), D1, terminal=t1)
    move("sell_out", "L2", 60, (2026, 6, 1), D1, terminal=t2)
    move("sell_out", "L1", 80, (2026, 6, 10), D2, terminal=t2)
    move("return", "L1", 20, (2026, 6, 5), D1, q)
    move("write_off", "L1", 5, (2026, 6, 12), D2)
    move("shipment", "L3", 200, (2026, 5, 1), wh, D3)
    move("shipment", "L2", 50, (2026, 5, 1), wh, D3)
    move("sell_out", "L2", 48, (2026, 6, 1), D3, terminal=t1)
    db_session.flush()
    return {"wh": wh, "q": q, "d1": d1, "d2": d2, "d3": d3, "loc": loc, "p1": p1, "p2": p2, "t1": t1, "t2": t2,
            "lots": lots}
