"""Every coverage metric on a channel small enough to compute by hand (the expected numbers are worked out in the
comments), loaded through the facts-changed seam as ingestion loads, including a replacement.

The channel (business year 2026; weights: 三甲 10, 二甲 5, 二级 4, 一级 2, large pharmacy 3, clinic 1)::

    terminal  type / grade      region               weight  on target lists 2026
    T1        hospital 三级甲等  330102 杭州 上城区        10     CV-ZJ, L2-ZJ
    T2        hospital 二级甲等  330106 杭州 西湖区         5     CV-ZJ
    T3        pharmacy large    330106 杭州 西湖区         3     CV-ZJ
    T4        hospital 一级      330203 宁波 海曙区         2     CV-ZJ
    T5        hospital 三级甲等  320102 南京 玄武区   20 (own) CV-JS
    T6        clinic            330203 宁波 海曙区         1     L2-ZJ
    T7        pharmacy small    330102 杭州 上城区         1     — (not a target)
    T8        hospital 二级      330102 杭州 上城区         4     CV-ZJ (never buys)

    products: P1, P2, P3 (line CV; P3 never sells), Q1 (line L2)
    DA: agreement for line CV, territory 330100 (杭州) and the named terminal T4
    DB: agreement for P1 and line L2, territory 330200 (宁波)
    lot LZJ of P1 shipped to DA only (浙江)

Sell-out reported (source rows from 2):

    DA 2026-04: T1 P1 +10 (lot LZJ) · T2 P1 +5 · T2 P1 −5 (a return: T2 nets 0) · T3 P2 +3 · T7 P1 +2
    DA 2026-05 v1: T1 P1 +4 · T3 P1 +1 · T5 P1 +6 (lot LZJ) · T4 P2 +2
    DA 2026-05 v2 (replaces v1): the same four lines and T2 P2 +1
    DB 2026-03: T4 P1 +1
    DB 2026-05: T4 P1 +8 · T6 Q1 +2 · T1 P2 +1 · P1 20 transferred to DA
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select, text

from app.models import StockLocation
from app.tenancy import acting_as, actor_for_user
from distribution import coverage
from distribution.coverage import Filters, NotAllowed, Scope
from distribution.metrics import Period
from distribution.rollups import rebuild_rollups
from tests.integration.distribution.coverage_world import fact, load_sell_out, make_agreement, target_list

D = Decimal
MAY, APR, MAR = date(2026, 5, 1), date(2026, 4, 1), date(2026, 3, 1)


class HandWorld:
    def __init__(self, request):
        get = request.getfixturevalue
        s, make_terminal, make_product, make_line = (get("db_session"), get("make_terminal"), get("make_product"),
                                                     get("make_product_line"))
        make_distributor, make_user, region = get("make_distributor"), get("make_user"), get("region")
        self.s = s
        self.cv, self.l2 = make_line(code="HW-CV"), make_line(code="HW-L2")
        self.p1, self.p2, self.p3 = (make_product(code=c, product_line=self.cv) for c in ("HW-P1", "HW-P2", "HW-P3"))
        self.q1 = make_product(code="HW-Q1", product_line=self.l2)
        t = {}
        for code, kind, grade, size, reg, own in (
                ("T1", "hospital", "三级甲等", None, "330102", None),
                ("T2", "hospital", "二级甲等", None, "330106", None),
                ("T3", "pharmacy", None, "large", "330106", None), ("T4", "hospital", "一级", None, "330203", None),
                ("T5", "hospital", "三级甲等", None, "320102", 20), ("T6", "clinic", None, None, "330203", None),
                ("T7", "pharmacy", None, "small", "330102", None), ("T8", "hospital", "二级", None, "330102", None)):
            t[code] = make_terminal(code=f"HW-{code}", type=kind, grade=grade, region_code=reg, pharmacy_size=size,
                                    potential_weight=own)
        self.t = t
        target_list(s, "HW-CV-ZJ", self.cv, region("330000"), 2026, [t[k] for k in ("T1", "T2", "T3", "T4", "T8")])
        target_list(s, "HW-CV-JS", self.cv, region("320000"), 2026, [t["T5"]])
        target_list(s, "HW-L2-ZJ", self.l2, region("330000"), 2026, [t["T1"], t["T6"]])
        target_list(s, "HW-CV-2025", self.cv, region("330000"), 2025, [t["T7"]])  # another year: never counted
        self.da = make_distributor(code="HW-DA", region_code="330100")
        self.db = make_distributor(code="HW-DB", region_code="330200")
        make_agreement(make_user, self.da, lines=["HW-CV"], regions=["330100"], terminals=["HW-T4"])
        make_agreement(make_user, self.db, products=["HW-P1"], lines=["HW-L2"], regions=["330200"])
        self.lot = self._shipped_lot(s)
        T, P1, P2, Q1 = t, self.p1, self.p2, self.q1
        self.da_apr = load_sell_out(s, self.da, APR, [
            fact(T["T1"], P1, 10, date(2026, 4, 3), lot=self.lot), fact(T["T2"], P1, 5, date(2026, 4, 10)),
            fact(T["T2"], P1, -5, date(2026, 4, 20)), fact(T["T3"], P2, 3, date(2026, 4, 15)),
            fact(T["T7"], P1, 2, date(2026, 4, 16))])
        self.may_rows = [fact(T["T1"], P1, 4, date(2026, 5, 6)), fact(T["T3"], P1, 1, date(2026, 5, 7)),
                         fact(T["T5"], P1, 6, date(2026, 5, 8), lot=self.lot), fact(T["T4"], P2, 2, date(2026, 5, 9))]
        self.da_may = load_sell_out(s, self.da, MAY, self.may_rows)
        self.db_mar = load_sell_out(s, self.db, MAR, [fact(T["T4"], P1, 1, date(2026, 3, 2))])
        self.db_may = load_sell_out(s, self.db, MAY, [
            fact(T["T4"], P1, 8, date(2026, 5, 3)), fact(T["T6"], Q1, 2, date(2026, 5, 4)),
            fact(T["T1"], P2, 1, date(2026, 5, 5)), fact(None, P1, 20, date(2026, 5, 6), to_distributor=self.da)])

    def _shipped_lot(self, s):
        from inventory import services as inventory

        wh = StockLocation(code="HW-WH", name="总仓", kind="manufacturer")
        s.add(wh)
        s.flush()
        dest = s.execute(select(StockLocation).where(StockLocation.distributor_id == self.da.id)).scalar_one()
        lot = inventory.register_lot(self.p1, "LZJ", date(2025, 6, 1), date(2027, 6, 1))
        inventory.post_movement("receipt", lot, 100, to_location=wh)
        inventory.post_movement("shipment", lot, 50, from_location=wh, to_location=dest)
        return lot

    def replace_may(self):
        """DA's May file again, now with T2 P2 +1 as well (version 2 supersedes version 1)."""
        self.da_may_v2 = load_sell_out(self.s, self.da, MAY, self.may_rows + [
            fact(self.t["T2"], self.p2, 1, date(2026, 5, 11))], replaces=self.da_may)
        return self.da_may_v2

    def numbers(self, **filters):
        return coverage.slice_numbers(Filters(**{"period": "2026-05", **filters}).scope())


@pytest.fixture
def hw(request):
    return HandWorld(request)


def test_listing_rate_weighted_rolling_for_one_product(hw):
    hw.replace_may()
    n = hw.numbers(product="HW-P1")
    # targets of line CV (2026): T1 T2 T3 T4 T5 T8 = 6; bought P1 in May: T1 (4), T3 (1), T5 (6), T4 (DB 8) = 4
    assert (n.targets, n.bought, n.listing_rate) == (6, 4, D("66.7"))
    # weights 10 + 5 + 3 + 2 + 20 + 4 = 44; bought 10 + 3 + 20 + 2 = 35 → 79.5 %
    assert (n.target_weight, n.bought_weight, n.weighted_distribution) == (44, 35, D("79.5"))
    # March–May: T4 bought in March too, T2 netted 0 in April: still the same 4 → 66.7 %
    assert (n.bought_rolling, n.listing_rate_rolling) == (4, D("66.7"))
    # target cities of CV: 杭州 (T1 T2 T3 T8), 宁波 (T4), 南京 (T5) = 3; P1 sold in all three in May
    assert (n.target_cities, n.cities_with_sales, n.city_coverage) == (3, 3, D("100.0"))
    # April P1 buyers: T1, T7; May: T1 T3 T4 T5 → new T3 T4 T5 = 3, lost T7 = 1 (all terminals, not only targets)
    assert (n.new_terminals, n.lost_terminals) == (3, 1)
    # listed P1 (DA's line, DB directly) sold in May (terminals 11 + 8, transfer 20) → 1 of 1
    assert (n.listed_products, n.products_sold, n.sell_through) == (1, 1, D("100.0"))


def test_coverage_sell_through_and_the_replacement_counts_once(hw):
    before = hw.numbers()
    # all lists' targets: T1..T6, T8 = 7; reached in May by any product (v1): T1 T3 T4 T5 T6 = 5 → 71.4 %
    assert (before.coverage_targets, before.covered, before.coverage) == (7, 5, D("71.4"))
    p2_before = hw.numbers(product="HW-P2")
    assert (p2_before.bought, p2_before.listing_rate) == (2, D("33.3"))  # T4 (DA), T1 (DB)
    hw.replace_may()
    after = hw.numbers()
    # v2 adds T2 P2 +1: T2 is reached too → 6 of 7 = 85.7 %
    assert (after.covered, after.coverage) == (6, D("85.7"))
    p2 = hw.numbers(product="HW-P2")
    assert (p2.bought, p2.listing_rate) == (3, D("50.0"))  # T4, T1, T2: v1's lines are not counted twice
    # listed: P1 P2 P3 (DA's line) and Q1 (DB's line) = 4; sold in May: P1, P2, Q1 → 75.0 %
    assert (after.listed_products, after.products_sold, after.sell_through) == (4, 3, D("75.0"))
    sales = dict(((r.distributor_id, r.product_id), (r.terminal_quantity, r.transfer_quantity)) for r in hw.s.execute(
        text("SELECT distributor_id, product_id, terminal_quantity, transfer_quantity FROM coverage_sales "
             "WHERE month = '2026-05-01'")))
    # DA May: P1 4 + 1 + 6 = 11, P2 2 + 1 = 3 (v1's 2 not added again); DB: P1 8 and 20 transferred, P2 1, Q1 2
    assert sales == {(hw.da.id, hw.p1.id): (11, 0), (hw.da.id, hw.p2.id): (3, 0), (hw.db.id, hw.p1.id): (8, 20),
                     (hw.db.id, hw.p2.id): (1, 0), (hw.db.id, hw.q1.id): (2, 0)}


def test_cuts_by_line_period_region_type_and_distributor(hw):
    hw.replace_may()
    # line CV in April: T1 (P1 10), T3 (P2 3); T2 netted 0 → 2 of 6 = 33.3 %
    apr = hw.numbers(product_line="HW-CV", period="2026-04")
    assert (apr.targets, apr.bought, apr.listing_rate) == (6, 2, D("33.3"))
    # 2026Q2 (April–June), P1: T1, T3, T4, T5 → 4 of 6; year to date (Jan–May): the same 4
    assert hw.numbers(product="HW-P1", period_kind="quarter", period="2026Q2").bought == 4
    assert hw.numbers(product="HW-P1", period_kind="ytd").listing_rate == D("66.7")
    # 杭州 only: targets T1 T2 T3 T8; P1 in May: T1, T3 → 50.0 %
    hz = hw.numbers(product="HW-P1", region="330100")
    assert (hz.targets, hz.bought, hz.listing_rate, hz.target_cities) == (4, 2, D("50.0"), 1)
    # hospitals: T1 T2 T4 T5 T8; bought T1 T4 T5 → 60.0 %
    assert hw.numbers(product="HW-P1", terminal_type="hospital").listing_rate == D("60.0")
    assert hw.numbers(product="HW-P1", grade="三级甲等").bought == 2  # T1, T5
    # DA's territory for P1: 杭州 (T1 T2 T3 T8) and the named T4 = 5 targets (T5 in 南京 is outside);
    # bought P1 from DA in May: T1, T3 (T5 is not a target of its territory; T4 bought P2 from DA) → 40.0 %
    da = hw.numbers(product="HW-P1", distributor="HW-DA")
    assert (da.targets, da.bought, da.listing_rate) == (5, 2, D("40.0"))
    # DA's new / lost P1 terminals (all its terminals): April T1 T7, May T1 T3 T5 → new 2, lost 1
    assert (da.new_terminals, da.lost_terminals) == (2, 1)
    # DB for P1: 宁波 → T4 only (T6 is on L2's list, not CV's): bought → 100 %
    db_ = hw.numbers(product="HW-P1", distributor="HW-DB")
    assert (db_.targets, db_.bought, db_.listing_rate) == (1, 1, D("100.0"))
    # DB has no agreement for P2: no territory, no targets, no rate
    assert hw.numbers(product="HW-P2", distributor="HW-DB").listing_rate is None


def test_trend_breakdown_and_terminals(hw):
    hw.replace_may()
    scope = Filters(product="HW-P1", period="2026-05").scope()
    points = {p.month: p for p in coverage.trend(scope)}
    # P1 bought by targets: March T4 (DB 1) → 1/6; April T1 (T7 is no target, T2 nets 0) → 1/6; May 4/6
    assert [(points[m].bought, points[m].listing_rate) for m in (MAR, APR, MAY)] == [
        (1, D("16.7")), (1, D("16.7")), (4, D("66.7"))]
    assert (points[APR].new_terminals, points[APR].lost_terminals) == (2, 1)  # April: T1, T7 new; T4 lost
    assert len(points) == 12 and points[date(2025, 6, 1)].bought == 0
    rows = coverage.breakdown(scope)
    # 浙江: T1 T2 T3 T4 T8, bought T1 T3 T4 → 60.0 %; 江苏: T5 → 100 %; highest first
    assert [(r.code, r.targets, r.bought, r.listing_rate) for r in rows] == [
        ("320000", 1, 1, D("100.0")), ("330000", 5, 3, D("60.0"))]
    zj = coverage.breakdown(Filters(product="HW-P1", period="2026-05", region="330000").scope())
    assert [(r.code, r.targets, r.bought) for r in zj] == [("330200", 1, 1), ("330100", 4, 2)]
    hz = Filters(product="HW-P1", period="2026-05", region="330100").scope()
    with_, n_with = coverage.terminals(hz, "with")
    without, n_without = coverage.terminals(hz, "without")
    assert [r.code for r in with_] == ["HW-T1", "HW-T3"] and n_with == 2
    assert [r.code for r in without] == ["HW-T2", "HW-T8"] and n_without == 2
    assert with_[0].distributors == ["HW-DA"] and with_[0].months_bought == [MAY]
    assert [r.weight for r in without] == [5, 4]


def test_diversion_flags_with_evidence(hw):
    hw.replace_may()
    flags, total = coverage.diversion_flags(Filters(period="2026-05").scope())
    got = sorted((f.kind, f.distributor_code, f.terminal_code, f.product_code, f.source_row, f.submission_id)
                 for f in flags)
    # DA v2 row 4: T5 (南京) is outside DA's 杭州 territory, and lot LZJ was only shipped to 浙江;
    # DB row 4: DB has no agreement for P2. Version 1's flags went with it: each line is flagged once.
    assert got == sorted([
        ("outside_territory", "HW-DA", "HW-T5", "HW-P1", 4, hw.da_may_v2.id),
        ("lot_region", "HW-DA", "HW-T5", "HW-P1", 4, hw.da_may_v2.id),
        ("unauthorised_product", "HW-DB", "HW-T1", "HW-P2", 4, hw.db_may.id)])
    assert total == 3
    lot_flag = next(f for f in flags if f.kind == "lot_region")
    assert lot_flag.filename == hw.da_may_v2.filename and lot_flag.lot_no == "LZJ"
    assert lot_flag.shipped_to == ["HW-DA (浙江省)"]
    assert coverage.diversion_flags(Filters(period="2026-04").scope())[1] == 0  # April: T1 is in 浙江 and 杭州


def test_rebuild_reproduces_the_incremental_rollups(hw):
    hw.replace_may()

    def snapshot():
        return (sorted(hw.s.execute(text("SELECT distributor_id, year, scope, scope_id, terminal_id, months "
                                         "FROM coverage_presence")).all()),
                sorted(hw.s.execute(text("SELECT month, distributor_id, product_id, terminal_quantity, "
                                         "terminal_amount, transfer_quantity, transfer_amount, lines "
                                         "FROM coverage_sales")).all()),
                sorted(hw.s.execute(text("SELECT kind, submission_id, fact_id FROM diversion_flag")).all()))

    incremental = snapshot()
    assert incremental[0] and incremental[1] and incremental[2]
    result = rebuild_rollups()
    assert snapshot() == incremental
    assert result.presence_rows == len(incremental[0]) and result.flags == 3


def test_distributor_user_gets_its_own_aggregates_only(hw, make_user):
    user = make_user("distributor", hw.da)
    hw.replace_may()
    with acting_as(actor_for_user(user)):
        own = hw.numbers(product="HW-P1")  # no distributor asked: its own is forced
        assert (own.targets, own.bought) == (5, 2)
        with pytest.raises(coverage.FilterInvalid):  # another distributor's code is unknown to it
            hw.numbers(product="HW-P1", distributor="HW-DB")
        with pytest.raises(NotAllowed):  # and its id is refused
            coverage.slice_numbers(Scope(Period("month", MAY), distributor_id=hw.db.id))
        with pytest.raises(NotAllowed):
            coverage.terminals(Filters(period="2026-05").scope())
        with pytest.raises(NotAllowed):
            coverage.diversion_flags(Filters(period="2026-05").scope())


def test_bad_filters_are_named(db_session):
    with pytest.raises(coverage.FilterInvalid) as exc:
        Filters(product="NOPE", period="2026-13", window=13).scope()
    assert set(exc.value.errors) == {"product", "period", "window"}


def test_period_scope_reads_the_row_of_its_last_month():
    p = Period("rolling", date(2026, 2, 1), 3)
    assert [m.month for m in p.months] == [12, 1, 2] and p.year == 2026
