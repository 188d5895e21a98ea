"""The stock ledger: movements, balances = sum of movements, never negative, append-only, lots, blocking."""

from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text

from app.audit import AppendOnlyViolation
from app.models import StockLocation
from inventory import services
from inventory.models import StockBalance, StockMovement
from inventory.services import InventoryError


@pytest.fixture
def places(db_session, make_distributor, make_product, make_terminal):
    wh = StockLocation(code="MAN-WH", name="杭州总仓", kind="manufacturer")
    q = StockLocation(code="MAN-Q", name="隔离库", kind="quarantine")
    db_session.add_all([wh, q])
    d1 = make_distributor(code="INV-1")
    d2 = make_distributor(code="INV-2", tier=2, parent_code="INV-1")
    db_session.flush()
    loc = {d.id: db_session.execute(select(StockLocation).where(StockLocation.distributor_id == d.id)).scalar_one()
           for d in (d1, d2)}
    product = make_product(code="INV-P", min_shelf_days_tier1=180, min_shelf_days_tier2=90)
    return {"wh": wh, "q": q, "d1": loc[d1.id], "d2": loc[d2.id], "product": product, "t": make_terminal()}


def balance(db_session, loc, lot) -> int:
    b = db_session.execute(select(StockBalance).where(StockBalance.location_id == loc.id,
                                                      StockBalance.lot_id == lot.id)).scalar_one_or_none()
    return b.quantity if b else 0


def test_a_lot_travels_down_the_channel(db_session, places):
    p = places
    lot = services.register_lot(p["product"], "A001", date(2026, 1, 1), date(2028, 12, 31))
    services.post_movement("receipt", lot, 1000, to_location=p["wh"])
    services.post_movement("shipment", lot, 400, from_location=p["wh"], to_location=p["d1"], reference="SO-1")
    services.post_movement("transfer", lot, 150, from_location=p["d1"], to_location=p["d2"])
    services.post_movement("sell_out", lot, 100, from_location=p["d2"], terminal=p["t"])
    services.post_movement("return", lot, 20, from_location=p["d1"], to_location=p["q"])
    services.post_movement("adjustment", lot, 5, from_location=p["wh"], note="盘亏")
    services.post_movement("write_off", lot, 20, from_location=p["q"])
    got = {k: balance(db_session, p[k], lot) for k in ("wh", "d1", "d2", "q")}
    assert got == {"wh": 595, "d1": 230, "d2": 50, "q": 0}
    for k in got:
        assert services.ledger_sum(p[k].id, lot.id) == got[k]


def test_stock_never_goes_negative_and_nothing_is_half_written(db_session, places):
    p = places
    lot = services.register_lot(p["product"], "A002", date(2026, 1, 1), date(2028, 12, 31))
    services.post_movement("receipt", lot, 10, to_location=p["wh"])
    before = db_session.execute(select(StockMovement.id)).scalars().all()
    with pytest.raises(InventoryError, match="10"):
        services.post_movement("shipment", lot, 11, from_location=p["wh"], to_location=p["d1"])
    assert balance(db_session, p["wh"], lot) == 10 and balance(db_session, p["d1"], lot) == 0
    assert db_session.execute(select(StockMovement.id)).scalars().all() == before


@pytest.mark.parametrize("qty", [0, -1, 1.5, True])
def test_bad_quantities(db_session, places, qty):
    lot = services.register_lot(places["product"], "A003", date(2026, 1, 1), date(2028, 12, 31))
    with pytest.raises(InventoryError):
        services.post_movement("receipt", lot, qty, to_location=places["wh"])


def test_wrong_sides_are_refused(db_session, places):
    p = places
    lot = services.register_lot(p["product"], "A004", date(2026, 1, 1), date(2028, 12, 31))
    services.post_movement("receipt", lot, 10, to_location=p["wh"])
    with pytest.raises(InventoryError):
        services.post_movement("receipt", lot, 1, to_location=p["d1"])  # production goes to our warehouse
    with pytest.raises(InventoryError):
        services.post_movement("shipment", lot, 1, from_location=p["d1"], to_location=p["d2"])
    with pytest.raises(InventoryError):
        services.post_movement("adjustment", lot, 1, from_location=p["wh"], to_location=p["d1"])
    with pytest.raises(InventoryError):
        services.post_movement("sell_out", lot, 1, from_location=p["d1"])  # which terminal?
    with pytest.raises(InventoryError):
        services.post_movement("teleport", lot, 1, to_location=p["wh"])


def test_lot_rules(db_session, places):
    product = places["product"]
    with pytest.raises(InventoryError, match="2025-01-01"):
        services.register_lot(product, "B1", date(2026, 1, 1), date(2025, 1, 1))
    lot = services.register_lot(product, "B1", date(2026, 1, 1), date(2028, 1, 1))
    assert services.register_lot(product, " B1 ", date(2026, 1, 1), date(2028, 1, 1)).id == lot.id
    with pytest.raises(InventoryError, match="B1"):
        services.register_lot(product, "B1", date(2026, 2, 1), date(2028, 1, 1))


def test_shipping_refuses_blocked_expired_lots_and_unlicensed_distributors(db_session, places, make_distributor):
    p = places
    lot = services.register_lot(p["product"], "C1", date(2024, 1, 1), date(2026, 6, 14))  # expired yesterday
    services.post_movement("receipt", lot, 10, to_location=p["wh"])
    with pytest.raises(InventoryError, match="C1"):
        services.post_movement("shipment", lot, 1, from_location=p["wh"], to_location=p["d1"])
    good = services.register_lot(p["product"], "C2", date(2026, 1, 1), date(2028, 1, 1))
    services.post_movement("receipt", good, 10, to_location=p["wh"])
    services.set_lot_status(good, "quarantined", "温度偏离")
    with pytest.raises(InventoryError):
        services.post_movement("shipment", good, 1, from_location=p["wh"], to_location=p["d1"])
    services.set_lot_status(good, "released", "复检合格")
    expired = make_distributor(code="INV-X", licence_expiry="2026-01-01")
    loc = db_session.execute(select(StockLocation).where(StockLocation.distributor_id == expired.id)).scalar_one()
    with pytest.raises(InventoryError, match="INV-X|许可|licence"):
        services.post_movement("shipment", good, 1, from_location=p["wh"], to_location=loc)
    services.post_movement("shipment", good, 1, from_location=p["wh"], to_location=p["d1"])


def test_ledger_is_append_only(db_session, places):
    lot = services.register_lot(places["product"], "D1", date(2026, 1, 1), date(2028, 1, 1))
    m = services.post_movement("receipt", lot, 10, to_location=places["wh"])
    nested = db_session.begin_nested()
    m.quantity = 11
    with pytest.raises(AppendOnlyViolation):
        db_session.flush()
    nested.rollback()
    nested = db_session.begin_nested()
    with pytest.raises(Exception, match="append-only"):
        db_session.execute(text("UPDATE stock_movement SET quantity = 99"))
    nested.rollback()


def test_allocation_skips_and_locks(db_session, places):
    p = places
    lots = {
        "near": services.register_lot(p["product"], "E-near", date(2025, 1, 1), date(2026, 10, 1)),  # 108 days
        "mid": services.register_lot(p["product"], "E-mid", date(2025, 6, 1), date(2027, 3, 1)),
        "far": services.register_lot(p["product"], "E-far", date(2026, 1, 1), date(2028, 3, 1)),
        "recalled": services.register_lot(p["product"], "E-rec", date(2025, 1, 1), date(2027, 1, 1)),
    }
    for lot in lots.values():
        services.post_movement("receipt", lot, 100, to_location=p["wh"])
    services.set_lot_status(lots["recalled"], "recalled", "召回")
    to_tier1 = services.allocate(p["product"], 150, p["wh"], destination_tier=1)  # needs 180 days
    assert [(x.lot_no, x.quantity) for x in to_tier1.picks] == [("E-mid", 100), ("E-far", 50)]
    assert {s.lot_no: s.reason for s in to_tier1.skipped} == {"E-near": "short_shelf_life", "E-rec": "recalled"}
    to_tier2 = services.allocate(p["product"], 150, p["wh"], destination_tier=2)  # needs 90 days
    assert [(x.lot_no, x.quantity) for x in to_tier2.picks] == [("E-near", 100), ("E-mid", 50)]
    assert services.allocate(p["product"], 1000, p["wh"], 2).short == 700


movement_steps = st.lists(
    st.tuples(st.sampled_from(["receipt", "shipment", "transfer", "sell_out", "return", "adjustment+", "adjustment-",
                               "write_off"]),
              st.integers(1, 400), st.integers(0, 1)),
    min_size=1, max_size=25)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=movement_steps)
def test_random_sequences_keep_the_invariants(db_session, places, steps):
    """Whatever happens, each balance equals its ledger sum and none is negative; refused steps change nothing."""
    p = places
    nested = db_session.begin_nested()
    try:
        lots = [services.register_lot(p["product"], f"H{i}", date(2026, 1, 1), date(2029, 1, 1)) for i in (0, 1)]
        where = {"receipt": (None, "wh"), "shipment": ("wh", "d1"), "transfer": ("d1", "d2"), "sell_out": ("d2", None),
                 "return": ("d1", "q"), "adjustment+": (None, "d2"), "adjustment-": ("d1", None),
                 "write_off": ("q", None)}
        for kind, qty, which in steps:
            src, dst = where[kind]
            try:
                services.post_movement(kind.rstrip("+-"), lots[which], qty, from_location=p[src] if src else None,
                                       to_location=p[dst] if dst else None, terminal=p["t"])
            except InventoryError:
                pass
        for lot in lots:
            for k in ("wh", "d1", "d2", "q"):
                have = balance(db_session, p[k], lot)
                assert have >= 0
                assert have == services.ledger_sum(p[k].id, lot.id)
    finally:
        nested.rollback()
