"""The demo data (app.demo): a believable, consistent channel; deterministic for a seed; idempotent; usable logins.

Seeding takes a few seconds, so the module seeds once (and a second time, to prove that adds nothing) inside one
transaction that is rolled back at the end, exactly as the ``db_session`` fixture does per test.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import time
from collections import Counter
from datetime import timedelta
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
        Product,
        ProductLine,
        StockLocation,
        TargetList,
        TargetListEntry,
        Terminal,
        TerminalAlias,
        User,
    )

    models = (ProductLine, Product, Distributor, Terminal, TerminalAlias, TargetList, TargetListEntry, StockLocation,
              User, AuditLog)
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
            started = time.perf_counter()
            first = seed_demo(str(REGIONS_DIR))
            seconds = time.perf_counter() - started
            after_first = _counts()
            second = seed_demo(str(REGIONS_DIR))
            after_second = _counts()
            yield SimpleNamespace(session=db.session, first=first, second=second, seconds=seconds, before=before,
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
    assert seeded.seconds < 60

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
    started = time.perf_counter()

    def run(*args):
        return subprocess.run([flask, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)

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
    assert time.perf_counter() - started < 90
    with sqlite3.connect(db_file) as conn:
        assert 4500 <= conn.execute("select count(*) from terminal").fetchone()[0] <= 5500
        assert conn.execute("select count(*) from user_account").fetchone()[0] == 6
        assert conn.execute("select count(*) from region where code = '419001'").fetchone()[0] == 1
