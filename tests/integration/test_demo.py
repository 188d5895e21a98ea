"""The demo data (app.demo and the extensions the domain packages register with it: inventory.demo's stock,
distribution.demo's prices and agreements): a believable, consistent channel; deterministic for a seed;
idempotent; usable logins.

Seeding is not quick, so the module seeds once (and a second time, to prove that adds nothing) inside one
transaction that is rolled back at the end, exactly as the ``db_session`` fixture does per test.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
from collections import Counter, defaultdict
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parents[2]
REGIONS_DIR = ROOT.parent / "shared" / "data" / "regions"
CITIES_WITHOUT_COUNTIES = ("441900", "442000")  # 东莞, 中山
LOGIN_LINE = re.compile(r"^\s+(\S+) / (\S+) \((\w+)[^)]*\)", re.M)


def _counts() -> dict[str, int]:
    from app.extensions import db
    from app.models import (
        AuditLog,
        Distributor,
        Notification,
        Product,
        ProductLine,
        StockLocation,
        TargetList,
        TargetListEntry,
        Terminal,
        TerminalAlias,
        User,
    )
    from credit.models import CreditAccount, CreditReservation, ReceivableEntry
    from distribution.models.agreements import Agreement, AgreementEvent, AgreementTarget
    from distribution.models.orders import Order, Shipment
    from distribution.models.pricing import PriceFloor, PriceItem, PriceList
    from inventory.models import Lot, StockBalance, StockMovement

    models = (ProductLine, Product, Distributor, Terminal, TerminalAlias, TargetList, TargetListEntry, StockLocation,
              User, AuditLog, Lot, StockMovement, StockBalance, Notification, PriceList, PriceItem, PriceFloor,
              Agreement, AgreementTarget, AgreementEvent, Order, Shipment, CreditAccount, CreditReservation,
              ReceivableEntry)
    return {m.__name__: db.session.execute(select(func.count()).select_from(m)).scalar_one() for m in models}


@pytest.fixture(scope="module")
def seeded(app):
    """The demo seeded (twice) in one transaction that is rolled back after the module."""
    from app.demo import seed_demo
    from app.extensions import db

    with app.app_context():
        connection = db.engine.connect()
        outer = connection.begin()
        original = db.session
        db.session = db._make_scoped_session({"bind": connection, "join_transaction_mode": "create_savepoint"})
        try:
            before = _counts()
            first = seed_demo(str(REGIONS_DIR))
            after_first = _counts()
            second = seed_demo(str(REGIONS_DIR))
            after_second = _counts()
            yield SimpleNamespace(session=db.session, first=first, second=second, before=before,
                                  after_first=after_first, after_second=after_second)
        finally:
            db.session.remove()
            db.session = original
            outer.rollback()
            connection.close()


def _all(model, *options):
    from app.extensions import db

    return db.session.execute(select(model).options(*options)).scalars().all()


def test_counts_in_expected_ranges(seeded):
    from sqlalchemy.orm import selectinload

    from app.models import Distributor, Product, Terminal, TerminalType

    added = {k: seeded.after_first[k] - seeded.before[k] for k in seeded.before}
    assert added["ProductLine"] == 6
    assert 140 <= added["Product"] <= 170
    assert 55 <= added["Distributor"] <= 70
    assert 4500 <= added["Terminal"] <= 5500
    assert added["TargetList"] == 60  # 6 product lines x 10 provinces
    assert 6000 <= added["TargetListEntry"] <= 25000
    assert added["User"] == 6

    dists = _all(Distributor)
    tiers = Counter(d.tier for d in dists)
    assert 18 <= tiers[1] <= 24 and 35 <= tiers[2] <= 45
    assert Counter(d.status for d in dists)["active"] >= len(dists) - 5

    products = _all(Product)
    assert 3 <= sum(p.cold_chain for p in products) <= 15
    assert 1 <= sum(not p.active for p in products) <= 10

    terminals = _all(Terminal, selectinload(Terminal.aliases))
    types = Counter(t.type for t in terminals)
    assert set(types) == {t.value for t in TerminalType}
    assert types["pharmacy"] > types["clinic"] > types["other"] and types["hospital"] > types["other"]
    with_aliases = [t for t in terminals if t.aliases]
    assert 200 <= len(with_aliases) <= 900
    assert all(1 <= len(t.aliases) <= 2 for t in with_aliases)


def test_products_are_plausible(seeded):
    from app.masterdata.resources import DOSAGE_FORMS, _gtin_ok, _validate_product
    from app.models import Product

    products = _all(Product)
    assert len({p.gtin for p in products}) == len(products)
    assert len({(p.generic_name, p.specification) for p in products}) == len(products)
    assert {p.product_line.name for p in products} == {"心血管", "抗感染", "消化", "呼吸", "内分泌", "神经"}
    for p in products:
        assert _gtin_ok(p.gtin) and len(p.gtin) == 13 and p.gtin.startswith("69"), p.gtin
        assert p.dosage_form in DOSAGE_FORMS
        assert p.base_unit in ("盒", "支", "瓶")
        assert p.shelf_life_months in (24, 36)
        assert 180 <= p.min_shelf_days_tier1 <= 365 and 120 <= p.min_shelf_days_tier2 <= 270
        assert p.min_shelf_days_tier2 <= p.min_shelf_days_tier1 < p.shelf_life_months * 30
        assert re.fullmatch(r"国药准字[HZS]\d{8}", p.approval_number), p.approval_number
        assert p.pack_size > 0
        assert ("2-8℃" in p.storage_condition) == p.cold_chain
        data = {c: getattr(p, c) for c in ("gtin", "shelf_life_months", "min_shelf_days_tier1",
                                           "min_shelf_days_tier2")}
        assert _validate_product(data, None) == {}
    names = {p.generic_name for p in products}
    assert {"阿托伐他汀钙片", "头孢克肟分散片", "注射用头孢曲松钠"} <= names
    assert any(p.cold_chain and p.dosage_form == "注射剂" for p in products)


def test_distributor_network(seeded):
    from app import clock
    from app.masterdata.resources import licence_status
    from app.models import Distributor, StockLocation

    dists = _all(Distributor)
    warehouses = {loc.distributor_id: loc for loc in _all(StockLocation) if loc.kind == "distributor"}
    for d in dists:
        assert d.id in warehouses, d.code
        assert warehouses[d.id].region_id == d.region_id
        assert re.fullmatch(r"[浙苏沪京粤鲁川渝豫鄂]AA\d{7}", d.licence_no), d.licence_no
        assert re.fullmatch(r"1[3-9]\d{9}", d.contact_phone)
        assert 2 <= len(d.contact_name) <= 3 and d.name.endswith("公司") and d.address
        assert d.region.level == 3 or d.region.code in CITIES_WITHOUT_COUNTIES, d.code
        if d.tier == 1:
            assert d.parent_id is None
        else:
            assert d.parent is not None and d.parent.tier == 1, d.code
            assert d.parent.region.province_id == d.region.province_id, d.code
    statuses = Counter(licence_status(d) for d in dists)
    assert statuses["expired"] >= 1 and statuses["expiring"] >= 1 and statuses["valid"] >= len(dists) - 10
    today = clock.today()
    assert all(d.licence_expiry <= today + timedelta(days=60) for d in dists if licence_status(d) == "expiring")
    assert len({d.name for d in dists}) == len(dists)
    provinces = {d.region.province.code for d in dists if d.tier == 1}
    assert {"330000", "320000", "310000", "110000", "440000", "370000", "510000", "500000", "410000",
            "420000"} <= provinces


def test_terminals_names_codes_and_aliases(seeded):
    from app.models import HOSPITAL_GRADES, Terminal, TerminalAlias

    terminals = _all(Terminal)
    aliases = [a.alias for a in _all(TerminalAlias)]
    names = [t.name for t in terminals]
    assert len({t.code for t in terminals}) == len(terminals)
    assert len(set(names)) == len(names)
    assert len(set(aliases)) == len(aliases)
    assert not set(aliases) & set(names)
    for t in terminals:
        if t.type == "hospital":
            assert t.grade in HOSPITAL_GRADES, t.name
        else:
            assert t.grade is None, t.name
        assert (t.region.level == 3 or t.region.code in CITIES_WITHOUT_COUNTIES) and t.address
    by_region = Counter(t.region.code for t in terminals)
    assert by_region["419001"] >= 1  # 济源, a 省直辖县级 unit
    assert by_region["429004"] >= 1  # 仙桃
    assert any(t.name.startswith("济源市") for t in terminals if t.region.code == "419001")
    by_city = Counter(t.code[1:5] for t in terminals)
    assert by_city["3301"] > by_city["3309"]  # 杭州 > 舟山
    assert by_city["4401"] > by_city["4408"]  # 广州 > 湛江
    assert by_city["5101"] > by_city["5115"]  # 成都 > 宜宾
    assert {"杭州市第一人民医院", "浙江省人民医院"} <= set(names)
    assert any(n.startswith("老百姓大药房(") for n in names)
    assert any(n.endswith("街道社区卫生服务中心") for n in names)


def test_target_lists_stay_inside_their_territory(seeded):
    from sqlalchemy.orm import selectinload

    from app import clock
    from app.masterdata.resources import region_contains
    from app.models import Region, TargetList, TargetListEntry

    regions = _all(Region)  # held, so walking up the parents is served from the identity map
    assert regions
    lists = _all(TargetList, selectinload(TargetList.entries).selectinload(TargetListEntry.terminal))
    assert {tl.year for tl in lists} == {clock.today().year}
    assert len({(tl.product_line_id, tl.region_id) for tl in lists}) == len(lists)
    for tl in lists:
        assert tl.region.level == 1
        assert 100 <= len(tl.entries) <= 450, tl.code
        for e in tl.entries:
            assert region_contains(tl.region, e.terminal.region), (tl.code, e.terminal.code)
            assert e.terminal.active
    cv = [e.terminal for tl in lists if tl.product_line.name == "心血管" for e in tl.entries]
    hospitals = sum(t.type == "hospital" for t in cv) / len(cv)
    assert hospitals > 0.5  # Rx lines target hospitals first


def test_stock_locations(seeded):
    from app.models import Distributor, StockLocation

    kinds = Counter(loc.kind for loc in _all(StockLocation))
    assert kinds["manufacturer"] >= 2 and kinds["quarantine"] >= 1
    assert kinds["distributor"] == len(_all(Distributor))
    assert "杭州总仓" in {loc.name for loc in _all(StockLocation)}


def test_second_run_adds_nothing(seeded):
    assert seeded.after_second == seeded.after_first
    assert "already" in seeded.second
    for part in ("stock:", "price lists:", "agreements", "orders:"):
        line = next(ln for ln in seeded.second.splitlines() if ln.strip().startswith(part))
        assert "already present; nothing added" in line, line
        assert part in seeded.first
    assert LOGIN_LINE.findall(seeded.second) == LOGIN_LINE.findall(seeded.first)


def test_one_user_per_role_can_log_in_with_the_printed_password(seeded):
    from app.auth.services import authenticate

    logins = LOGIN_LINE.findall(seeded.first)
    assert {role for _u, _p, role in logins} == {"admin", "channel_manager", "finance", "viewer", "distributor"}
    bound = set()
    for username, password, role in logins:
        user = authenticate(username, password)
        assert user is not None and user.role == role, username
        assert authenticate(username, password + "x") is None
        if role == "distributor":
            assert user.distributor.tier == 1
            bound.add(user.distributor_id)
        else:
            assert user.distributor_id is None
    assert len(bound) == 2


def test_plan_is_deterministic_and_writes_nothing(db_session):
    from app import clock
    from app.demo import build_plan, load_regions_info

    regions = load_regions_info()
    a = build_plan(regions, seed=7, today=clock.today())
    b = build_plan(regions, seed=7, today=clock.today())
    c = build_plan(regions, seed=8, today=clock.today())
    assert a == b
    assert [t["name"] for t in a.terminals] != [t["name"] for t in c.terminals]
    assert a.products != c.products
    assert not db_session.new and not db_session.dirty


def test_cli_seeds_a_fresh_sqlite_database(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL", "FIXED_TODAY")}
    db_file = tmp_path / "demo.sqlite"
    env.update(FLASK_APP="wsgi.py", DRP_INSTANCE_PATH=str(tmp_path), DATABASE_URL=f"sqlite:///{db_file}",
               LOG_LEVEL="WARNING")
    flask = str(ROOT / ".venv" / "bin" / "flask")

    def run(*args):  # the timeout only guards against a hang; speed belongs in bench/
        return subprocess.run([flask, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)

    upgrade = run("db", "upgrade")
    assert upgrade.returncode == 0, upgrade.stderr[-2000:]
    seeded = run("drp", "seed-demo", "--regions", str(REGIONS_DIR))
    assert seeded.returncode == 0, seeded.stderr[-2000:]
    logins = LOGIN_LINE.findall(seeded.stdout)
    assert ("admin", "Demo-2026-admin", "admin") in logins
    assert {role for _u, _p, role in logins} == {"admin", "channel_manager", "finance", "viewer", "distributor"}
    again = run("drp", "seed-demo", "--regions", str(REGIONS_DIR))
    assert again.returncode == 0 and "already" in again.stdout
    assert LOGIN_LINE.findall(again.stdout) == logins
    assert all(part in seeded.stdout for part in ("stock:", "price lists:", "agreements"))
    with sqlite3.connect(db_file) as conn:
        assert 4500 <= conn.execute("select count(*) from terminal").fetchone()[0] <= 5500
        assert conn.execute("select count(*) from user_account").fetchone()[0] == 6
        assert conn.execute("select count(*) from region where code = '419001'").fetchone()[0] == 1
        assert conn.execute("select count(*) from stock_movement").fetchone()[0] >= 5000
        assert conn.execute("select count(*) from stock_balance where quantity < 0").fetchone()[0] == 0
        assert conn.execute("select count(*) from price_item").fetchone()[0] >= 500
        assert conn.execute("select count(*) from agreement where status = 'active'").fetchone()[0] >= 20
        assert conn.execute("select count(*) from notification").fetchone()[0] >= 10


# -- the extensions: stock (inventory.demo) ---------------------------------------------------------------------------
def _movements():
    from app.extensions import db
    from inventory.models import StockMovement

    return db.session.execute(select(StockMovement.id, StockMovement.kind, StockMovement.business_date,
                                     StockMovement.lot_id, StockMovement.quantity, StockMovement.from_location_id,
                                     StockMovement.to_location_id, StockMovement.terminal_id)).all()


def test_stock_balances_equal_the_ledger_and_never_go_below_zero_on_any_day(seeded):
    from inventory.demo import PHASE
    from inventory.models import StockBalance

    moves = _movements()
    assert 5000 <= len(moves) <= 15000
    ledger = Counter()
    for m in moves:
        if m.to_location_id:
            ledger[m.to_location_id, m.lot_id] += m.quantity
        if m.from_location_id:
            ledger[m.from_location_id, m.lot_id] -= m.quantity
    balances = {(b.location_id, b.lot_id): b.quantity for b in _all(StockBalance)}
    assert all(q >= 0 for q in balances.values())
    assert {k: q for k, q in balances.items() if q} == {k: q for k, q in ledger.items() if q}
    running = Counter()  # in business-date order (inflows of a day before its outflows), not just at the end
    for m in sorted(moves, key=lambda m: (m.business_date, PHASE[m.kind], m.id)):
        if m.to_location_id:
            running[m.to_location_id, m.lot_id] += m.quantity
        if m.from_location_id:
            running[m.from_location_id, m.lot_id] -= m.quantity
            assert running[m.from_location_id, m.lot_id] >= 0, m


def test_shipments_go_only_to_distributors_that_may_be_shipped_to(seeded):
    from app.masterdata.resources import can_ship_to
    from app.models import Distributor, StockLocation
    from inventory.models import Lot

    locations = {loc.id: loc for loc in _all(StockLocation)}
    dists = {d.id: d for d in _all(Distributor)}
    lots = {lot.id: lot for lot in _all(Lot)}
    kinds = Counter(m.kind for m in _movements())
    assert {"receipt", "shipment", "transfer", "sell_out", "return"} <= set(kinds)
    shipped_to, received = set(), set()
    for m in _movements():
        src, dst = locations.get(m.from_location_id), locations.get(m.to_location_id)
        if m.kind == "shipment":
            assert src.kind == "manufacturer" and dst.kind == "distributor"
            d = dists[dst.distributor_id]
            assert d.tier == 1 and can_ship_to(d), d.code
            lot = lots[m.lot_id]
            assert lot.expires_on >= m.business_date
            assert (lot.expires_on - m.business_date).days >= lot.product.min_shelf_days_tier1  # FEFO's rule
            shipped_to.add(d.id)
        elif m.kind == "transfer":
            parent, child = dists[src.distributor_id], dists[dst.distributor_id]
            assert child.tier == 2 and child.parent_id == parent.id and can_ship_to(child), child.code
            received.add(child.id)
        elif m.kind == "return":  # into quarantine; restocked returns go on to the warehouse (distribution.returns)
            assert (src.kind, dst.kind) in {("distributor", "quarantine"), ("quarantine", "manufacturer")}
    assert len(shipped_to) >= 15 and len(received) >= 20
    cannot = {d.id for d in dists.values() if not can_ship_to(d)}
    assert cannot and not cannot & (shipped_to | received)


def test_sell_out_stays_in_the_territory_over_the_last_four_months(seeded):
    from app import clock
    from app.models import Distributor, Region, StockLocation, Terminal

    regions = {r.id: r for r in _all(Region)}
    locations = {loc.id: loc for loc in _all(StockLocation)}
    dists = {d.id: d for d in _all(Distributor)}
    terminals = {t.id: t for t in _all(Terminal)}
    today = clock.today()
    sold = [m for m in _movements() if m.kind == "sell_out"]
    assert len(sold) >= 2000
    months = Counter()
    for m in sold:
        if m.terminal_id is None:  # reported by file: summed per day and lot, the terminals are in the facts
            continue
        d = dists[locations[m.from_location_id].distributor_id]
        t_region, d_region = regions[terminals[m.terminal_id].region_id], regions[d.region_id]
        assert t_region.province_id == d_region.province_id, (d.code, m)
        if d.tier == 2:
            assert t_region.city_unit_id == d_region.city_unit_id, (d.code, m)
        assert m.business_date <= today
        months[(today - m.business_date).days // 30] += 1
    assert min(months[i] for i in range(4)) > len(sold) / 10  # spread over the last ~120 days


def test_lots_near_expiry_quarantine_and_days_of_inventory(seeded):
    from app import clock
    from app.models import Notification, Product, StockLocation
    from inventory.channel import channel_matrix
    from inventory.demo import expiry_for
    from inventory.expiry import near_expiry
    from inventory.models import Lot, StockBalance

    today = clock.today()
    lots = _all(Lot)
    active = [p for p in _all(Product) if p.active]
    per_product = Counter(lot.product_id for lot in lots)
    assert len(per_product) >= 0.9 * len(active)
    assert all(2 <= n <= 4 for n in per_product.values())
    for lot in lots:
        assert lot.expires_on == expiry_for(lot.manufactured_on, lot.product.shelf_life_months)
        assert today - timedelta(days=30 * 31) <= lot.manufactured_on <= today - timedelta(days=6 * 30), lot
    held = {b.lot_id for b in _all(StockBalance) if b.quantity > 0}
    left = Counter()
    for lot in lots:
        if lot.id in held:
            days = (lot.expires_on - today).days
            left["expired" if days < 0 else 30 if days <= 30 else 90 if days <= 90 else 180 if days <= 180 else 0] += 1
    assert left["expired"] >= 1 and left[30] >= 2 and left[90] >= 2 and left[180] >= 3
    assert left["expired"] + left[30] + left[90] + left[180] <= 20  # a handful, not the catalogue
    # one lot quarantined by the stock demo, one recalled by the returns demo (distribution.return_demo)
    assert Counter(lot.status for lot in lots) == Counter(released=len(lots) - 2, quarantined=1, recalled=1)
    quarantined = next(lot for lot in lots if lot.status == "quarantined")
    assert quarantined.status_reason
    quarantine = next(loc for loc in _all(StockLocation) if loc.kind == "quarantine")
    assert any(b.location_id == quarantine.id and b.lot_id == quarantined.id and b.quantity > 0
               for b in _all(StockBalance))
    alerts = [n for n in _all(Notification) if n.kind == "near_expiry"]
    assert len(alerts) >= 10
    assert {n.audience_role for n in alerts} == {"channel_manager", "distributor"}
    alerted = {n.distributor_id for n in alerts}
    assert {_distributor("ZJ101").id, _distributor("GD101").id} <= alerted  # the demo distributor users see some
    dashboard = near_expiry()
    assert {g.key for g in dashboard.by_tier} == {0, 1, 2}
    assert dashboard.total_value is not None and dashboard.total_value > 0  # valued at the demo tier-1 prices
    flags = Counter(c.flag for c in channel_matrix().cells.values())
    assert flags["ok"] > flags["over"] > 0 and flags["under"] > 0


def test_stock_plan_is_deterministic(seeded):
    import random

    from app import clock
    from inventory.demo import load_world, plan_stock

    world = load_world(clock.today())
    a, b = plan_stock(random.Random("7:stock"), world), plan_stock(random.Random("7:stock"), world)
    c = plan_stock(random.Random("8:stock"), world)
    assert a == b and a != c


# -- the extensions: prices and agreements (distribution.demo) ------------------------------------------------------
def _distributor(code):
    from app.extensions import db
    from app.models import Distributor

    return db.session.execute(select(Distributor).where(Distributor.code == code)).scalar_one()


def test_price_lists_resolve_for_demo_distributors(seeded):
    from app import clock
    from distribution import price_lists as prices
    from distribution import pricing
    from distribution.models.pricing import PriceFloor, PriceItem, PriceList

    today = clock.today()
    lists = {pl.kind: pl for pl in _all(PriceList)}
    assert set(lists) == {"tier1_supply", "tier2_supply", "retail_guide", "provincial_bid", "distributor_specific"}
    assert lists["provincial_bid"].province.code == "330000" and lists["distributor_specific"].distributor.code == \
        "ZJ101"
    items = _all(PriceItem)
    by_list = defaultdict(dict)
    for item in items:
        if item.min_quantity == 1 and item.effective_on(today):
            by_list[item.price_list.kind][item.product_id] = item
    products = {item.product_id: item.product for item in items}
    assert len(by_list["tier1_supply"]) >= 140 and 10 <= len(by_list["distributor_specific"]) <= 30
    assert any(item.entered_unit == "case" for item in items)  # quantity breaks
    assert sum(item.version > 1 for item in items) >= 1  # a price change from next month
    floors = {f.product_id: f.floor_price for f in _all(PriceFloor)}
    assert len(floors) >= 30 and all(item.unit_price >= floors.get(item.product_id, 0) for item in items)
    for pid, item in by_list["tier1_supply"].items():
        assert item.unit_price < by_list["tier2_supply"][pid].unit_price < by_list["retail_guide"][pid].unit_price

    zj101, gd101 = _distributor("ZJ101"), _distributor("GD101")
    own = next(iter(by_list["distributor_specific"]))
    r = prices.resolve_price(zj101, products[own], 1, today)
    assert r.found and r.rule == pricing.Rule.DISTRIBUTOR_SPECIFIC
    assert r.unit_price == by_list["distributor_specific"][own].unit_price
    bid_only = next(pid for pid in by_list["provincial_bid"] if pid not in by_list["distributor_specific"])
    r = prices.resolve_price(zj101, products[bid_only], 1, today)
    assert r.rule == pricing.Rule.PROVINCIAL_BID and r.unit_price == by_list["provincial_bid"][bid_only].unit_price
    r = prices.resolve_price(gd101, products[own], 1, today)
    assert r.rule == pricing.Rule.TIER_LIST and r.unit_price == by_list["tier1_supply"][own].unit_price
    broken = next(i for i in items if i.entered_unit == "case" and i.price_list.kind == "tier1_supply")
    r = prices.resolve_price(gd101, broken.product, broken.entered_quantity, today, unit="case")
    assert r.unit_price == broken.unit_price < by_list["tier1_supply"][broken.product_id].unit_price
    order = prices.price_order(gd101, [prices.OrderLine(products[pid], 10) for pid in
                                       list(by_list["tier1_supply"])[:5]], today)
    assert order.total > 0
    assert prices.my_prices(zj101, today)


def test_returns_in_various_states_and_one_open_recall(seeded):
    from credit.models import ReceivableEntry
    from distribution.models.returns import Recall, ReturnRequest
    from distribution.recalls import recall_dashboard

    zj = _distributor("ZJ101")
    mine = [r for r in _all(ReturnRequest) if r.distributor_id == zj.id and r.recall_id is None]
    assert sorted(r.status for r in mine) == ["approved", "credited", "rejected", "requested"]
    credited = next(r for r in mine if r.status == "credited")
    memo = next(e for e in _all(ReceivableEntry) if e.reference == credited.credit_reference)
    assert memo.kind == "credit_memo" and -memo.amount == credited.credit_amount > 0
    assert next(r for r in mine if r.status == "requested").attachments
    (recall,) = _all(Recall)
    dash = recall_dashboard(recall)
    assert recall.status == "open" and len(dash.holders) >= 2
    assert 0 < dash.recovered < dash.held and dash.outstanding > 0


def test_agreements_in_expected_states(seeded):
    from app import clock
    from app.masterdata.resources import can_ship_to
    from app.models import AuditLog, Distributor, Product
    from distribution import agreements
    from distribution.models.agreements import Agreement

    today = clock.today()
    found = _all(Agreement)
    by_status = defaultdict(list)
    for a in found:
        by_status[a.status].append(a)
    assert set(by_status) == {"active", "submitted", "draft"}
    assert len(by_status["submitted"]) == 1 and len(by_status["draft"]) == 1
    active = by_status["active"]
    tier1 = [d for d in _all(Distributor) if d.tier == 1 and can_ship_to(d)]
    assert sum(a.distributor.tier == 1 for a in active) >= len(tier1) - 2
    assert sum(a.distributor.tier == 2 for a in active) >= 5
    assert len({a.distributor_id for a in active}) == len(active)  # one per distributor, no overlap
    for a in found:
        assert (a.start_date, a.end_date) == (date(today.year, 1, 1), date(today.year, 12, 31))
        assert a.payment_terms_days in (30, 60, 90) and a.proposed_credit_limit > 0
        assert [(t.threshold_pct, t.rate_pct) for t in a.rebate_tiers] == [(90, 1), (100, 2), (110, 3)]
        assert {t.quarter for t in a.targets} == {1, 2, 3, 4} and all(t.amount > 0 for t in a.targets)
        assert a.created_by.username == "manager"
        region = a.distributor.region
        if a.distributor.tier == 1:
            assert a.product_lines and [r.region.code for r in a.regions] == [region.province.code]
        else:
            assert a.products and [r.region_id for r in a.regions] == [region.city_unit_id]
    for a in active:
        assert can_ship_to(a.distributor)
        assert (a.submitted_by.username, a.approved_by.username) == ("manager", "admin")
        assert [e.action for e in a.events] == ["create", "submit", "activate"]
    assert by_status["submitted"][0].distributor.tier == 1 and by_status["submitted"][0].approved_at is None
    actions = Counter((log.action, log.actor) for log in _all(AuditLog) if log.entity_type == "agreement")
    assert actions["activate", "admin"] == len(active) and actions["submit", "manager"] == len(active) + 1

    a = next(a for a in active if a.distributor.code == "ZJ101")
    line = a.product_lines[0].product_line
    one = next(p for p in _all(Product) if p.product_line_id == line.id and p.active)
    assert agreements.agreement_in_force(a.distributor, one, today).id == a.id
    assert agreements.is_authorised(a.distributor, one, today, terminal_region=a.distributor.region)


# -- the extensions: channel data (ingestion.demo) -----------------------------------------------------------------
def test_channel_data_went_through_the_pipeline(seeded):
    from app import clock
    from app.extensions import db
    from ingestion import queries, timeliness
    from ingestion.models import MappingTemplate, RejectedRow, SellOutFact, Submission
    from inventory.channel import channel_matrix
    from inventory.models import StockMovement

    subs = _all(Submission)
    assert len(subs) >= 15 and all(s.status == "loaded" and s.is_current for s in subs)
    assert {s.kind for s in subs} == {"sell_out", "inventory"}
    assert {s.raw_file.storage_path.rsplit(".", 1)[-1] for s in subs}  # kept in the raw-file store
    assert len({t.signature for t in _all(MappingTemplate)}) >= 3 and all(t.confirmed for t in _all(MappingTemplate))
    facts = db.session.execute(select(func.count(), func.sum(SellOutFact.quantity))).one()
    assert facts[0] == sum(s.rows_accepted for s in subs if s.kind == "sell_out") and facts[0] > 300
    posted = db.session.execute(select(func.sum(StockMovement.quantity)).where(
        StockMovement.reference.like("ING-%"))).scalar()
    through_pipeline = db.session.execute(select(func.sum(SellOutFact.quantity)).join(
        Submission, Submission.id == SellOutFact.submission_id).where(Submission.template_id.is_not(None))).scalar()
    assert posted == through_pipeline  # every sell-out line the pipeline loaded is in channel stock, once
    assert queries.review_count() >= 3  # customers nobody could match wait for a person
    assert db.session.execute(select(func.count()).select_from(RejectedRow)).scalar() >= 3
    cells = [c for c in channel_matrix().cells.values() if c.reported is not None]
    assert cells and any(c.difference for c in cells)  # the reported column and the difference fill in
    grid = timeliness.timeliness(timeliness.recent_months(3, clock.today()))
    assert grid.late() and grid.missing()  # one late, one that has not sent its last stock report
    future = [(s.filename, s.submitted_at) for s in subs if s.submitted_at.date() > clock.today()]
    assert not future  # no file arrives after the business date
    assert seeded.second.count("channel data: submissions already present") == 1
# -- the extensions: coverage (distribution.demo) ------------------------------------------------------------------
def test_coverage_demo_reports_the_sell_out_and_the_dashboard_has_numbers(seeded):
    from app import clock
    from app.extensions import db
    from distribution import coverage
    from distribution.metrics import Period, add_months
    from ingestion.models import SellOutFact, Submission
    from inventory.models import StockMovement

    assert "coverage:" in seeded.first and "nothing added" in seeded.second
    # the ledger's sell-out to terminals (the distributors that send no files) is reported once, as facts of the
    # demo's own submissions (no mapping template: they did not go through the pipeline), each with its raw file
    sold = db.session.execute(select(func.sum(StockMovement.quantity)).where(
        StockMovement.kind == "sell_out", StockMovement.terminal_id.is_not(None))).scalar_one()
    reported = db.session.execute(select(func.sum(SellOutFact.quantity)).join(
        Submission, Submission.id == SellOutFact.submission_id).where(Submission.template_id.is_(None))).scalar_one()
    assert sold == reported
    from ingestion import store

    demo_subs = _all(Submission)
    assert all(store.path_of(s.raw_file.storage_path).exists() for s in demo_subs)
    assert db.session.execute(select(func.count()).select_from(Submission)
                              .where(Submission.is_current)).scalar_one() >= 50
    month = add_months(clock.today().replace(day=1), -1)
    n = coverage.slice_numbers(coverage.Scope(Period("month", month)))
    assert n.targets > 500 and 0 < n.bought < n.targets and n.listing_rate is not None
    assert n.coverage is not None and n.target_cities > 10
# -- the extensions: orders, credit and receivables (distribution.order_demo) -----------------------------------------
def test_orders_shipped_invoiced_paid_overdue_and_held(seeded):
    """The order history makes the finance pages real: shipped orders with invoices due on the agreements' terms,
    most paid, some overdue past grace (so the nightly job held those distributors), orders approved and not yet
    shipped (reserved), orders in finance's hold queue (for overdue invoices and for the limit), one let through and
    one rejected by finance, and agreement achievement that reads the shipped orders."""
    from app import clock
    from app.models import AuditLog, Notification
    from credit import services as credit
    from credit.models import ReceivableEntry
    from distribution.agreements import sell_in_by_quarter
    from distribution.models.agreements import Agreement
    from distribution.models.orders import Order, Shipment
    from distribution.order_demo import NEAR_LIMIT

    today = clock.today()
    found = _all(Order)
    by_status = Counter(o.status for o in found)
    assert by_status["shipped"] >= 40 and by_status["approved"] >= 2
    assert by_status["credit_hold"] >= 3 and by_status["rejected"] == 1
    assert {o.distributor.tier for o in found} == {1} and len({o.distributor_id for o in found}) >= 12
    assert {o.placed_by.username for o in found if o.distributor.code in ("ZJ101", "GD101")} <= {"dist_zj", "dist_gd"}

    terms = {a.distributor_id: a.payment_terms_days for a in _all(Agreement) if a.status == "active"}
    invoices = {e.reference: e for e in _all(ReceivableEntry) if e.kind == "invoice"}
    shipments = _all(Shipment)
    assert len(invoices) == len(shipments) >= 40
    for sh in shipments:
        inv = invoices[sh.invoice_reference]
        assert (inv.amount, inv.entry_date, inv.order_ref) == (sh.amount, sh.on_date, sh.order.number)
        assert inv.due_date == sh.on_date + timedelta(days=terms[sh.distributor_id])
        assert sh.on_date <= today and sh.order.on_date < sh.on_date
    assert sum(e.kind == "payment" for e in _all(ReceivableEntry)) >= 20

    rows = {r.distributor.code: r for r in credit.credit_overview(today)}
    ordering = {o.distributor.code for o in found}
    for code in ordering:
        exp = rows[code].exposure
        unshipped = sum((o.total - o.shipped_amount for o in found if o.distributor.code == code
                         and o.status in ("approved", "partially_shipped")), Decimal("0.00"))
        assert exp.reserved == unshipped and exp.limit > 0  # approved orders' credit not yet invoiced
        assert exp.open_receivables == credit.balance(rows[code].distributor)
    held_for_overdue = {code for code in ordering if rows[code].exposure.manual_hold}
    assert len(held_for_overdue) == 2
    for code in held_for_overdue:
        assert rows[code].exposure.blocking_invoices
        assert any(n.kind == "credit_overdue_hold" and n.distributor_id == rows[code].distributor.id
                   for n in _all(Notification))
    paid_up = [code for code in ordering if not rows[code].exposure.overdue_invoices]
    assert len(paid_up) >= len(ordering) // 2
    aging = credit.aging(None, today)
    assert aging["current"] > 0 and aging["31-60"] + aging["61-90"] > 0 and aging["1-30"] > 0

    queue = credit.held_reservations()
    assert len(queue) >= 3 and {r.distributor.code for r in queue} >= held_for_overdue | {NEAR_LIMIT}
    assert any("逾期" in reason for r in queue for reason in r.reasons)
    assert any("超出可用额度" in reason or "可用信用" in reason for r in queue if r.distributor.code == NEAR_LIMIT
               for reason in r.reasons)
    decided = [o for o in found if o.decided_by_id is not None]
    assert sorted(o.status == "rejected" for o in decided) == [False, True]  # one let through, one rejected
    assert all(o.decision_reason and o.distributor.code == NEAR_LIMIT for o in decided)
    assert {log.action for log in _all(AuditLog) if log.entity_type == "credit_reservation"} >= {
        "credit_hold_approve", "credit_hold_reject"}

    achieved = [amount for a in _all(Agreement) if a.status == "active" and a.distributor.tier == 1
                for amount, _qty in sell_in_by_quarter(a).values()]
    assert sum(achieved) == sum(sh.amount for sh in shipments) > 0
