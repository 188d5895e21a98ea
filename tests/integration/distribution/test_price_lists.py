"""Price lists against PostgreSQL: the acceptance criteria of issue 3 (price lists), versioning, floors, database
constraints, one-round-trip order pricing, audit and tenant scoping."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import event, func, insert, select
from sqlalchemy.exc import IntegrityError

from app.models import AuditLog
from app.tenancy import Actor, TenantViolation, acting_as
from distribution import price_lists as svc
from distribution import pricing
from distribution.models.pricing import ImmutablePriceError, PriceFloor, PriceItem, PriceList
from distribution.pricing import PassedOver, Rule
from tests.conftest import TODAY
from tests.integration.distribution.pricing_world import START, D, PricingWorld

TOMORROW = TODAY + timedelta(days=1)


@pytest.fixture
def pw(db_session, make_product, make_distributor):
    return PricingWorld(db_session, make_product, make_distributor)


# -- acceptance ------------------------------------------------------------------------------------------------------
def test_break_price_at_and_above_its_minimum_base_price_below_cases_converted(pw):
    base = pw.add(pw.tier1, "10.0000")
    brk = pw.add(pw.tier1, "9.0000", min_quantity=5, unit="case")  # 5 cases × 20 = 100 boxes
    assert brk.min_quantity == 100 and (brk.entered_quantity, brk.entered_unit) == (5, "case")
    assert pw.resolve(pw.d1, 99, TODAY).item.item_id == base.id
    assert pw.resolve(pw.d1, 100, TODAY).unit_price == D("9.0000")
    assert pw.resolve(pw.d1, 101, TODAY).unit_price == D("9.0000")
    r = pw.resolve(pw.d1, 5, TODAY, unit="case")
    assert (r.unit_price, r.quantity, r.item.item_id) == (D("9.0000"), 100, brk.id)
    assert pw.resolve(pw.d1, 4, TODAY, unit="case").unit_price == D("10.0000")
    assert r.amount == D("900.00")


def test_effective_window_honoured_to_the_day_and_tomorrows_version_does_not_leak(pw):
    v1 = pw.add(pw.tier1, "10.0000", start=date(2026, 3, 1), end=date(2026, 12, 31))
    assert not pw.resolve(pw.d1, 1, date(2026, 2, 28)).found
    assert pw.resolve(pw.d1, 1, date(2026, 3, 1)).unit_price == D("10.0000")
    assert pw.resolve(pw.d1, 1, date(2026, 12, 31)).unit_price == D("10.0000")
    assert not pw.resolve(pw.d1, 1, date(2027, 1, 1)).found
    v2 = svc.change_item(v1, D("11.0000"), TOMORROW)
    assert v1.effective_to == TODAY and (v2.effective_from, v2.effective_to) == (TOMORROW, date(2026, 12, 31))
    today = pw.resolve(pw.d1, 1, TODAY)
    assert (today.unit_price, today.item.item_id, today.item.version) == (D("10.0000"), v1.id, 1)
    tomorrow = pw.resolve(pw.d1, 1, TOMORROW)
    assert (tomorrow.unit_price, tomorrow.item.item_id, tomorrow.item.version) == (D("11.0000"), v2.id, 2)


def test_distributor_specific_beats_provincial_bid_beats_tier_list(pw):
    pw.add(pw.tier1, "10.0000")
    pw.add(pw.tier2, "10.8000")
    pw.add(pw.retail, "15.0000")
    r = pw.resolve(pw.d1, 1, TODAY)
    assert (r.rule, r.item.list_code) == (Rule.TIER_LIST, "T1")
    pw.add(pw.bid_zj, "10.5000")
    r = pw.resolve(pw.d1, 1, TODAY)
    assert (r.rule, r.item.list_code, r.unit_price) == (Rule.PROVINCIAL_BID, "BID-ZJ", D("10.5000"))
    pw.add(pw.own_d1, "9.8000")
    r = pw.resolve(pw.d1, 1, TODAY)
    assert (r.rule, r.item.list_code, r.unit_price) == (Rule.DISTRIBUTOR_SPECIFIC, "SP-ZJ1", D("9.8000"))
    # the others: Wenzhou (tier 2, Zhejiang) gets the bid, not Hangzhou's own list; Guangdong gets its tier list
    assert pw.resolve(pw.d2, 1, TODAY).item.list_code == "BID-ZJ"
    assert pw.resolve(pw.d_gd, 1, TODAY).item.list_code == "T1"


def test_tier_two_distributor_gets_the_tier_two_list_and_retail_guide_never_applies(pw):
    pw.add(pw.retail, "15.0000")
    assert not pw.resolve(pw.d2, 1, TODAY).found
    pw.add(pw.tier1, "10.0000")
    pw.add(pw.tier2, "10.8000")
    assert pw.resolve(pw.d2, 1, TODAY).item.list_code == "T2"


def test_two_conflicting_items_are_refused_at_save_naming_both(pw):
    first = pw.add(pw.tier1, "10.0000", min_quantity=100, start=START, end=date(2026, 12, 31))
    with pytest.raises(svc.PriceConflict) as exc:
        pw.add(pw.tier1, "9.5000", min_quantity=5, unit="case", start=date(2026, 12, 31))  # 5 cases = 100: a tie
    message = exc.value.message
    assert f"#{first.id} v1" in message and "2026-12-31" in message and "9.5000" in message
    assert "10.0000" in message  # both items described
    # not a tie: another break, another list, or a window that does not touch
    pw.add(pw.tier1, "9.0000", min_quantity=101)
    pw.add(pw.tier2, "10.5000", min_quantity=100)
    pw.add(pw.tier1, "9.5000", min_quantity=100, start=date(2027, 1, 1))


def test_the_database_refuses_overlapping_items_too(pw, db_session):
    item = pw.add(pw.tier1, "10.0000", start=START, end=date(2026, 12, 31))
    row = {"price_list_id": pw.tier1.id, "product_id": pw.product.id, "min_quantity": 1, "entered_quantity": 1,
           "entered_unit": "base", "unit_price": D("9"), "effective_from": date(2026, 12, 31), "effective_to": None,
           "version": 2, "created_at": item.created_at, "updated_at": item.updated_at}
    with pytest.raises(IntegrityError, match="ex_price_item_no_overlap"), db_session.begin_nested():
        db_session.execute(insert(PriceItem), [row])
    row.update(effective_from=date(2027, 1, 1))
    db_session.execute(insert(PriceItem), [row])  # the next day is fine


def test_floor_price_is_enforced_at_save_and_at_resolution(pw, db_session):
    svc.set_floor(pw.product, D("9.5000"), START)
    with pytest.raises(svc.BelowFloor) as exc:
        pw.add(pw.tier1, "9.4999")
    assert "9.5000" in exc.value.message
    item = pw.add(pw.tier1, "9.5000")
    with pytest.raises(svc.BelowFloor) as exc:  # a higher floor is refused while items are below it, named
        svc.set_floor(pw.product, D("9.6000"), TOMORROW)
    assert f"#{item.id}" in exc.value.message
    with pytest.raises(svc.BelowFloor):
        svc.change_item(item, D("9.0000"), TOMORROW)
    # data written around the services still never resolves below the floor
    db_session.execute(PriceFloor.__table__.update().where(PriceFloor.product_id == pw.product.id)
                       .values(effective_to=date(2026, 12, 31)))
    db_session.execute(insert(PriceFloor), [{"product_id": pw.product.id, "floor_price": D("9.9000"),
                                             "effective_from": date(2027, 1, 1), "effective_to": None, "version": 9,
                                             "created_at": item.created_at, "updated_at": item.updated_at}])
    r = pw.resolve(pw.d1, 1, date(2027, 1, 1))
    assert (r.unit_price, r.floor_applied, r.list_price) == (D("9.9000"), True, D("9.5000"))
    assert "9.9000" in svc.explain(r, pw.product)


def test_explanation_names_the_rule_that_won(pw):
    pw.add(pw.tier1, "10.0000")
    brk = pw.add(pw.bid_zj, "9.8000", min_quantity=2, unit="case")
    own = pw.add(pw.own_d1, "8.0000", min_quantity=1000)
    r = pw.resolve(pw.d1, 3, TODAY, unit="case")
    assert r.rule == Rule.PROVINCIAL_BID and r.item.item_id == brk.id
    assert r.passed_over == ((Rule.DISTRIBUTOR_SPECIFIC, PassedOver.BELOW_LOWEST_BREAK),)
    text = svc.explain(r, pw.product)  # in the user's language: compare with the same labels
    assert svc.rule_label(Rule.PROVINCIAL_BID) in text and "BID-ZJ" in text and f"#{brk.id}" in text
    assert svc.quantity_label(pw.product, 2, "case") in text
    data = svc.explanation_data(r)
    assert data["rule"] == "provincial_bid" and data["item"]["id"] == brk.id and data["break"]["min_quantity"] == 40
    assert data["passed_over"] == [{"rule": "distributor_specific", "reason": "below_lowest_break"}]
    r = pw.resolve(pw.d1, 1000, TODAY)
    assert r.item.item_id == own.id and svc.rule_label(Rule.DISTRIBUTOR_SPECIFIC) in svc.explain(r, pw.product)


# -- versioning and history -----------------------------------------------------------------------------------------
def test_a_change_is_a_new_version_and_history_is_kept(pw, db_session):
    v1 = pw.add(pw.tier1, "10.0000")
    v2 = svc.change_item(v1, D("10.5000"), date(2026, 7, 1))
    v3 = svc.change_item(v2, D("11.0000"), date(2026, 9, 1))
    rows = db_session.execute(select(PriceItem.version, PriceItem.unit_price, PriceItem.effective_from,
                                     PriceItem.effective_to, PriceItem.previous_id)
                              .where(PriceItem.price_list_id == pw.tier1.id).order_by(PriceItem.version)).all()
    assert [tuple(r) for r in rows] == [
        (1, D("10.0000"), START, date(2026, 6, 30), None),
        (2, D("10.5000"), date(2026, 7, 1), date(2026, 8, 31), v1.id),
        (3, D("11.0000"), date(2026, 9, 1), None, v2.id),
    ]
    assert [pw.resolve(pw.d1, 1, d).item.version for d in (date(2026, 6, 30), date(2026, 7, 1), date(2026, 9, 1))] \
        == [1, 2, 3]
    groups = svc.items_by_product(pw.tier1, TODAY)
    assert [v.version for v in groups[0].breaks[0].versions] == [3, 2, 1]
    assert [svc.version_status(v, TODAY) for v in groups[0].breaks[0].versions] == ["future", "future", "current"]
    assert v3.version == 3
    audit = db_session.execute(select(AuditLog.action, AuditLog.before, AuditLog.after)
                               .where(AuditLog.entity_type == "price_item", AuditLog.entity_id == str(v1.id))
                               .order_by(AuditLog.id)).all()
    assert [a.action for a in audit] == ["create", "update"]
    assert audit[1].before == {"effective_to": None} and audit[1].after == {"effective_to": "2026-06-30"}


def test_prices_are_never_overwritten_or_deleted(pw, db_session):
    item = pw.add(pw.tier1, "10.0000")
    item.unit_price = D("1.0000")
    with pytest.raises(ImmutablePriceError):
        db_session.flush()
    db_session.rollback()


def test_changes_refused_in_the_past_before_the_start_or_after_the_end(pw):
    item = pw.add(pw.tier1, "10.0000", start=START, end=date(2026, 12, 31))
    with pytest.raises(svc.PricingError) as exc:
        svc.change_item(item, D("11"), TODAY - timedelta(days=1))
    assert "effective_from" in exc.value.errors
    with pytest.raises(svc.PricingError):
        svc.change_item(item, D("11"), START)
    with pytest.raises(svc.PricingError):
        svc.change_item(item, D("11"), date(2027, 1, 1))
    with pytest.raises(svc.PricingError):
        svc.end_item(item, TODAY - timedelta(days=2))
    svc.end_item(item, TODAY)
    assert item.effective_to == TODAY


def test_a_larger_break_may_not_cost_more_than_a_smaller_one(pw):
    pw.add(pw.tier1, "10.0000")
    with pytest.raises(svc.PricingError) as exc:
        pw.add(pw.tier1, "10.0100", min_quantity=100)
    assert "unit_price" in exc.value.errors


def test_one_active_list_per_slot(pw, db_session):
    with pytest.raises(svc.PricingError) as exc:
        svc.save_price_list({"code": "T1-B", "name": "另一个一级价", "kind": "tier1_supply"})
    assert "T1" in exc.value.errors["active"][0]
    svc.save_price_list({"code": "T1-OLD", "name": "旧一级价", "kind": "tier1_supply", "active": False})
    with pytest.raises(svc.PricingError):
        svc.save_price_list({"code": "BID-ZJ2", "name": "浙江挂网价", "kind": "provincial_bid",
                             "province_code": "330000"})
    with pytest.raises(svc.PricingError) as exc:
        svc.save_price_list({"code": "BID-X", "name": "x", "kind": "provincial_bid", "province_code": "330100"})
    assert "province_code" in exc.value.errors  # a city is not a province
    with pytest.raises(IntegrityError), db_session.begin_nested():
        db_session.execute(insert(PriceList), [{"code": "RAW", "name": "raw", "kind": "tier1_supply", "active": True,
                                                "created_at": pw.tier1.created_at, "updated_at": pw.tier1.updated_at}])


def test_kind_cannot_change_once_a_list_has_items(pw):
    pw.add(pw.retail, "15.0000")
    with pytest.raises(svc.PricingError) as exc:
        svc.save_price_list({"kind": "tier1_supply", "active": False}, pw.retail)
    assert "kind" in exc.value.errors
    svc.save_price_list({"name": "零售指导价（新）"}, pw.retail)
    assert pw.retail.name == "零售指导价（新）"


# -- pricing an order ------------------------------------------------------------------------------------------------
def test_price_order_resolves_all_lines_in_one_round_trip(pw, make_product, db_session):
    products = [make_product(pack_size=10) for _ in range(30)]
    for i, p in enumerate(products):
        pw.add(pw.tier1, f"{10 + i}.0000", product=p)
        pw.add(pw.tier1, f"{9 + i}.5000", min_quantity=10, unit="case", product=p)
        if i % 3 == 0:
            pw.add(pw.own_d1, f"{8 + i}.0000", product=p)
    svc.set_floor(products[1], D("5.0000"), START)
    lines = [svc.OrderLine(p, q, u) for p in products for q, u in ((1, "base"), (10, "case"))]
    db_session.flush()
    statements = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    engine = db_session.get_bind()
    event.listen(engine, "before_cursor_execute", count)
    try:
        priced = svc.price_order(pw.d1, lines, TODAY)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == 1, statements
    assert len(priced.lines) == 60
    first, first_case = priced.lines[0].resolution, priced.lines[1].resolution
    assert first.rule == Rule.DISTRIBUTOR_SPECIFIC and first.unit_price == D("8.0000")
    assert first_case.rule == Rule.DISTRIBUTOR_SPECIFIC  # its own list has no case break: base price of its list
    second_case = priced.lines[3].resolution
    assert (second_case.rule, second_case.unit_price, second_case.quantity) == (Rule.TIER_LIST, D("10.5000"), 100)
    assert priced.lines[3].amount == D("1050.00")
    assert priced.lines[2].resolution.floor.price == D("5.0000")
    assert priced.total == sum((pl.amount for pl in priced.lines), Decimal("0"))
    assert [pl.resolution for pl in priced.lines] == [svc.resolve_price(pw.d1, ln.product, ln.quantity, TODAY,
                                                                        ln.unit) for ln in lines]
    # the one SELECT leaves out rows that cannot matter: the rule on every item and floor gives the same answer
    every_item = [pricing.Candidate(i.id, i.version, i.price_list_id, i.price_list.code, i.price_list.name,
                                    i.price_list.kind, i.product_id, i.min_quantity, i.unit_price, i.effective_from,
                                    i.effective_to, i.price_list.province_id, i.price_list.distributor_id,
                                    i.entered_quantity, i.entered_unit)
                  for i in db_session.execute(select(PriceItem)).scalars()]
    every_floor = [pricing.Floor(f.id, f.version, f.product_id, f.floor_price, f.effective_from, f.effective_to)
                   for f in db_session.execute(select(PriceFloor)).scalars()]
    customer = pricing.Customer(pw.d1.id, 1, pw.d1.region.province_id)
    assert [pl.resolution for pl in priced.lines] == pricing.resolve_lines(
        customer, [(pl.line.product.id, pl.resolution.quantity) for pl in priced.lines], TODAY, every_item,
        every_floor)


def test_price_order_refuses_an_order_with_unpriced_lines(pw):
    pw.add(pw.tier1, "10.0000")
    with pytest.raises(svc.NoPrice) as exc:
        svc.price_order(pw.d1, [svc.OrderLine(pw.product, 1), svc.OrderLine(pw.other_product, 1)], TODAY)
    assert exc.value.lines == [1] and "PX-2" in exc.value.message


# -- tenant scoping --------------------------------------------------------------------------------------------------
def test_a_distributor_reads_shared_lists_and_its_own_never_anothers(pw, db_session, make_distributor):
    other = make_distributor(code="PD-ZJ9", tier=1, region_code="330100")
    own_other = svc.save_price_list({"code": "SP-ZJ9", "name": "别家专供", "kind": "distributor_specific",
                                     "distributor_code": "PD-ZJ9"})
    secret = pw.add(own_other, "7.7700")
    mine = pw.add(pw.own_d1, "9.1000")
    pw.add(pw.tier1, "10.0000")
    db_session.flush()
    db_session.expunge_all()
    with acting_as(Actor(None, "d1", pw.d1.id)):
        codes = set(db_session.execute(select(PriceList.code)).scalars())
        assert codes == {"T1", "T2", "RG", "BID-ZJ", "SP-ZJ1"}
        item_ids = set(db_session.execute(select(PriceItem.id)).scalars())
        assert secret.id not in item_ids and mine.id in item_ids
        assert db_session.get(PriceItem, secret.id) is None
        r = svc.resolve_price(pw.d1, pw.product, 1, TODAY)
        assert r.item.item_id == mine.id
    with acting_as(Actor(None, "d9", other.id)):
        r = svc.resolve_price(other, pw.product, 1, TODAY)
        assert r.unit_price == D("7.7700")
        # the one-round-trip SELECT is scoped as well: asked about PD-ZJ1, it still only sees shared rows here
        _customer, candidates, _floors = svc.fetch_candidates(pw.d1, [pw.product.id], TODAY)
        assert {c.list_code for c in candidates} == {"T1"}
        assert mine.id not in set(db_session.execute(select(PriceItem.id)).scalars())
        # shared rows are read-only for a distributor
        tier1 = db_session.execute(select(PriceList).where(PriceList.code == "T1")).scalar_one()
        tier1.name = "HACKED"
        with pytest.raises(TenantViolation):
            db_session.flush()
    db_session.rollback()


def test_my_prices_lists_what_applies_to_the_distributor(pw):
    pw.add(pw.tier1, "10.0000")
    pw.add(pw.tier1, "9.5000", min_quantity=5, unit="case")
    pw.add(pw.bid_zj, "11.0000", product=pw.other_product)
    rows = svc.my_prices(pw.d1, TODAY)
    got = {(r.product.code, q, res.unit_price, res.rule) for r in rows for q, res in r.breaks}
    assert got == {("PX-1", 1, D("10.0000"), Rule.TIER_LIST), ("PX-1", 100, D("9.5000"), Rule.TIER_LIST),
                   ("PX-2", 1, D("11.0000"), Rule.PROVINCIAL_BID)}
    assert db_count(pw) >= 3


def db_count(pw):
    return pw.session.execute(select(func.count()).select_from(PriceItem)).scalar_one()
