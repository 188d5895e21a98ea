"""Browser tests: the real app behind a real HTTP server, driven by headless Chromium (Debian's, via Playwright).

One PostgreSQL database per session, built by the migrations and seeded with a small fixed channel. The server
commits for real (no per-test rollback), so tests stay independent by using their own codes. CSRF is on: the
browser goes through the same forms a person does.
"""

from __future__ import annotations

import os
import threading
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest
from werkzeug.serving import WSGIRequestHandler, make_server

from tests.conftest import PASSWORD, REGIONS_DIR, _require_services, create_database, drop_database, make_app
from tests.e2e.helpers import ZH, compile_translations

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LOCAL_HOST = "127.0.0.1"


@dataclass
class Seed:
    """The fixed data set every browser test may rely on (and must not change)."""

    product_line: str = "E2E-PL"
    products: tuple[str, ...] = ("E2E-P001", "E2E-P002", "E2E-P003")
    dist_a: str = "E2E-DA"
    dist_b: str = "E2E-DB"
    dist_a2: str = "E2E-DA2"  # tier 2 under A
    terminals: tuple[str, ...] = ("E2E-T001", "E2E-T002")
    admin: str = "e2e_admin"
    manager: str = "e2e_manager"
    viewer: str = "e2e_viewer"
    language_user: str = "e2e_lang"  # a viewer whose language choice no other test sees
    distributor_user: str = "e2e_dist_a"
    manager_b: str = "e2e_manager_b"  # a second channel manager: the four-eyes approver
    warehouse: str = "E2E-WH"  # the manufacturer's warehouse
    lots: tuple[str, ...] = ("E2E-L1", "E2E-L2", "E2E-L3", "E2E-L9")  # L9 sits in the warehouse, for blocking
    tier1_list: str = "E2E-T1"
    finance: str = "e2e_finance"
    ids: dict[str, int] = field(default_factory=dict)


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code="-", size="-"):  # one line per request would drown the test output
        pass


def _seed(seed: Seed) -> None:
    from app.auth.services import create_user
    from app.extensions import db
    from app.masterdata.resources import distributors, product_lines, products, terminals
    from app.masterdata.services import save_record

    save_record(product_lines, {"code": seed.product_line, "name": "心血管产品线"})
    for code, name, spec in zip(seed.products, ("阿托伐他汀钙片", "苯磺酸氨氯地平片", "缬沙坦胶囊"),
                                ("20mg*7片", "5mg*28片", "80mg*7粒"), strict=True):
        save_record(products, {"code": code, "generic_name": name, "specification": spec,
                               "dosage_form": "片剂", "base_unit": "盒", "pack_size": 200, "shelf_life_months": 36,
                               "product_line_code": seed.product_line})
    a = save_record(distributors, {"code": seed.dist_a, "name": "浙江甲医药有限公司", "tier": 1,
                                   "region_code": "330100", "licence_no": "浙AA5710001", "licence_expiry": "2030-12-31",
                                   "contact_name": "张三", "contact_phone": "0571-88880001"})
    b = save_record(distributors, {"code": seed.dist_b, "name": "江苏乙医药有限公司", "tier": 1,
                                   "region_code": "320100", "licence_no": "苏AA0250001", "licence_expiry": "2030-12-31",
                                   "contact_phone": "025-66660001"})
    a2 = save_record(distributors, {"code": seed.dist_a2, "name": "杭州丙医药有限公司", "tier": 2,
                                    "parent_code": seed.dist_a, "region_code": "330106",
                                    "licence_no": "浙AB5710002", "licence_expiry": "2030-12-31"})
    save_record(terminals, {"code": seed.terminals[0], "name": "浙江大学医学院附属第一医院", "type": "hospital",
                            "grade": "三级甲等", "region_code": "330102", "address": "杭州市庆春路79号"})
    save_record(terminals, {"code": seed.terminals[1], "name": "杭州老百姓大药房西湖店", "type": "pharmacy",
                            "region_code": "330106"})
    seed.ids.update({"dist_a": a.id, "dist_b": b.id, "dist_a2": a2.id})
    create_user(seed.admin, PASSWORD, "admin", "管理员")
    create_user(seed.manager, PASSWORD, "channel_manager", "渠道经理王五")
    create_user(seed.viewer, PASSWORD, "viewer", "查看者")
    create_user(seed.language_user, PASSWORD, "viewer", "语言测试")
    create_user(seed.distributor_user, PASSWORD, "distributor", "甲公司业务员", distributor_code=seed.dist_a)
    create_user(seed.manager_b, PASSWORD, "channel_manager", "渠道经理赵六")
    db.session.commit()
    _seed_agreements(seed)
    _seed_prices(seed)
    _seed_stock(seed)
    _seed_coverage(seed)
    _seed_credit(seed)
    db.session.commit()


def _seed_agreements(seed: Seed) -> None:
    """An active agreement of A (drafted and submitted by the manager, approved by manager B); a submitted one of B."""
    from app.auth.services import find_user
    from distribution.agreement_schemas import AgreementInSchema
    from distribution.agreements import approve_agreement, create_draft, submit_agreement

    manager, manager_b = find_user(seed.manager), find_user(seed.manager_b)
    a = create_draft(AgreementInSchema().load({
        "distributor_code": seed.dist_a, "start_date": "2026-01-01", "end_date": "2026-12-31",
        "payment_terms_days": 60, "proposed_credit_limit": "500000", "deposit": "50000",
        "product_codes": list(seed.products[:2]), "region_codes": ["330100"],
        "targets": [{"quarter": "2026Q3", "product_code": seed.products[0], "amount": "120000", "quantity": 9600}],
        "rebate_tiers": [{"threshold_pct": "90", "rate_pct": "1"}, {"threshold_pct": "100", "rate_pct": "2"}]}),
        manager)
    submit_agreement(a, manager)
    approve_agreement(a, manager_b)
    b = create_draft(AgreementInSchema().load({
        "distributor_code": seed.dist_b, "start_date": "2026-01-01", "end_date": "2026-12-31",
        "payment_terms_days": 90, "proposed_credit_limit": "300000", "product_codes": [seed.products[1]],
        "region_codes": ["320100"], "note": "江苏乙 2026 年度协议"}), manager)
    submit_agreement(b, manager)
    seed.ids.update({"agreement_a": a.id, "agreement_b": b.id})


def _seed_prices(seed: Seed) -> None:
    """The tier-1 list prices P001 (12.50, from 100 boxes 11.80; 13.00 from 2026-07-01); A's own list prices P002,
    B's own list P001 and P003 (none of which A may see)."""
    from datetime import date
    from decimal import Decimal

    from sqlalchemy import select

    from app.extensions import db
    from app.models import Product
    from distribution import price_lists as svc

    p1, p2, p3 = (db.session.execute(select(Product).where(Product.code == c)).scalar_one() for c in seed.products)
    start = date(2026, 1, 1)
    tier1 = svc.save_price_list({"code": seed.tier1_list, "name": "一级供货价2026", "kind": "tier1_supply"})
    one = svc.add_item(tier1, p1, 1, "base", Decimal("12.50"), start)
    hundred = svc.add_item(tier1, p1, 100, "base", Decimal("11.80"), start)
    svc.add_item(tier1, p2, 1, "base", Decimal("25.00"), start)
    one_v2 = svc.change_item(one, Decimal("13.00"), date(2026, 7, 1))
    own_a = svc.save_price_list({"code": "E2E-SP-DA", "name": "浙江甲专供价", "kind": "distributor_specific",
                                 "distributor_code": seed.dist_a})
    svc.add_item(own_a, p2, 1, "base", Decimal("23.40"), start)
    own_b = svc.save_price_list({"code": "E2E-SP-DB", "name": "江苏乙专供价", "kind": "distributor_specific",
                                 "distributor_code": seed.dist_b})
    svc.add_item(own_b, p1, 1, "base", Decimal("10.90"), start)
    svc.add_item(own_b, p3, 1, "base", Decimal("31.70"), start)
    seed.ids.update({"price_item_1": one.id, "price_item_100": hundred.id, "price_item_1_v2": one_v2.id})


def _seed_stock(seed: Seed) -> None:
    """Lots and movements (business date 2026-06-15; L1 expires in 47 days, L3 in 20):

        lot  product  expiry      E2E-WH  WH-E2E-DA  WH-E2E-DB  WH-E2E-DA2
        L1   P001     2026-08-01     400        210         20          40   (sold out: A 90, B 180, A2 60)
        L2   P001     2027-06-01     200        300          -           -
        L3   P002     2026-07-05     150          -        150           -
        L9   P003     2027-12-31     100          -          -           -
    """
    from datetime import date

    from sqlalchemy import select

    from app.extensions import db
    from app.models import Product, Region, StockLocation, Terminal
    from inventory import services

    def one(model, code):
        return db.session.execute(select(model).where(model.code == code)).scalar_one()

    wh = StockLocation(code=seed.warehouse, name="杭州总仓", kind="manufacturer", region=one(Region, "330100"))
    db.session.add(wh)
    da, db_, da2 = (db.session.execute(select(StockLocation).where(StockLocation.distributor_id == seed.ids[k]))
                    .scalar_one() for k in ("dist_a", "dist_b", "dist_a2"))
    t1, t2 = (one(Terminal, c) for c in seed.terminals)
    p1, p2, p3 = (one(Product, c) for c in seed.products)
    lots = {no: services.register_lot(p, no, made, expires) for no, p, made, expires in (
        ("E2E-L1", p1, date(2024, 8, 1), date(2026, 8, 1)), ("E2E-L2", p1, date(2025, 6, 1), date(2027, 6, 1)),
        ("E2E-L3", p2, date(2024, 7, 5), date(2026, 7, 5)), ("E2E-L9", p3, date(2025, 12, 31), date(2027, 12, 31)))}

    def move(kind, lot, qty, day, src=None, dst=None, terminal=None):
        services.post_movement(kind, lots[lot], qty, from_location=src, to_location=dst, on_date=date(*day),
                               terminal=terminal, reference=f"{kind}-{lot}-{day[1]:02d}{day[2]:02d}")

    for lot, qty in (("E2E-L1", 1000), ("E2E-L2", 500), ("E2E-L3", 300), ("E2E-L9", 100)):
        move("receipt", lot, qty, (2026, 1, 10), dst=wh)
    move("shipment", "E2E-L1", 400, (2026, 2, 1), wh, da)
    move("shipment", "E2E-L1", 200, (2026, 3, 1), wh, db_)
    move("shipment", "E2E-L2", 300, (2026, 4, 1), wh, da)
    move("shipment", "E2E-L3", 150, (2026, 5, 1), wh, db_)
    move("transfer", "E2E-L1", 100, (2026, 4, 10), da, da2)
    move("sell_out", "E2E-L1", 90, (2026, 5, 1), da, terminal=t1)
    move("sell_out", "E2E-L1", 180, (2026, 6, 1), db_, terminal=t2)
    move("sell_out", "E2E-L1", 60, (2026, 6, 10), da2, terminal=t2)
    seed.ids.update({f"lot_{no[-2:]}": lot.id for no, lot in lots.items()})


def _seed_coverage(seed: Seed) -> None:
    """A 2026 target list of the line (T001, T002) and A's May sell-out, loaded the way ingestion loads it: T001
    bought P001 (listing rate 50 %), T002 nothing."""
    from datetime import date

    from sqlalchemy import select

    from app.extensions import db
    from app.models import Distributor, Product, ProductLine, Region, Terminal
    from tests.integration.distribution.coverage_world import fact, load_sell_out, target_list

    def one(model, code):
        return db.session.execute(select(model).where(model.code == code)).scalar_one()

    t1, t2 = (one(Terminal, c) for c in seed.terminals)
    target_list(db.session, "E2E-TL", one(ProductLine, seed.product_line), one(Region, "330000"), 2026, [t1, t2])
    load_sell_out(db.session, one(Distributor, seed.dist_a), date(2026, 5, 1),
                  [fact(t1, one(Product, seed.products[0]), 10, date(2026, 5, 6))], filename="E2E-流向-2026-05.xlsx")
def _seed_credit(seed: Seed) -> None:
    """A finance user; A's credit: limit 10,000.00, 30 days' terms, 5 grace days, invoice E2E-INV-1 3,000.00 of
    2026-05-20 (due 06-19) and payment E2E-PAY-1 1,000.00 on 06-01: 8,000.00 available. Nothing is shipped (the
    stock figures above stay as they are)."""
    from datetime import date
    from decimal import Decimal

    from app.auth.services import create_user, find_user
    from credit import services as credit

    create_user(seed.finance, PASSWORD, "finance", "财务钱七")
    finance = find_user(seed.finance)
    a = seed.ids["dist_a"]
    credit.set_credit_terms(a, limit=Decimal("10000.00"), payment_terms_days=30, grace_days=5, reason="年度授信",
                            user=finance)
    credit.post_invoice(a, None, Decimal("3000.00"), date(2026, 5, 20), reference="E2E-INV-1", user=finance)
    credit.record_payment(a, Decimal("1000.00"), date(2026, 6, 1), "E2E-PAY-1", user=finance)


@dataclass
class Server:
    base_url: str
    seed: Seed
    translated: bool  # a Chinese catalog with the login page translated was compiled for this run
    app: object = None  # the served app, for a module that prepares its own data (committed, under its own codes)


@pytest.fixture(scope="session")
def e2e(tmp_path_factory):
    """Migrate and seed a fresh database, serve the app on 127.0.0.1:<free port>, yield the base URL and seed."""
    _require_services()
    name = f"drp_e2e_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    url = create_database(name)
    overrides = {"WTF_CSRF_ENABLED": True}
    translations = compile_translations(tmp_path_factory.mktemp("translations"))
    if translations is not None:
        overrides["BABEL_TRANSLATION_DIRECTORIES"] = str(translations)
    app = make_app(url, tmp_path_factory.mktemp("e2e-instance"), **overrides)
    seed = Seed()
    with app.app_context():
        from flask_migrate import upgrade

        from app.extensions import db
        from app.masterdata.regions import import_regions

        upgrade()
        import_regions(REGIONS_DIR)
        db.session.commit()
        _seed(seed)
        db.session.remove()

    server = make_server(LOCAL_HOST, 0, app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="e2e-server", daemon=True)
    thread.start()
    try:
        yield Server(f"http://{LOCAL_HOST}:{server.server_port}", seed, bool(ZH.get("Log in")), app)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        with app.app_context():
            from app.extensions import db

            db.engine.dispose()
        drop_database(name)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    try:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()
    finally:
        pw.stop()


@dataclass
class PageLog:
    requests: list[str] = field(default_factory=list)
    xhr_posts: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def foreign_hosts(self) -> set[str]:
        return {urlsplit(u).hostname for u in self.requests if urlsplit(u).scheme in ("http", "https", "ws", "wss")
                and urlsplit(u).hostname != LOCAL_HOST}


@pytest.fixture
def page_log():
    return PageLog()


@pytest.fixture
def new_page(browser, page_log):
    """new_page(**context options) -> a page in a fresh browser context (own cookies), every request recorded.

    After the test: no request may have gone to any host but 127.0.0.1, and no page may have thrown a JS error.
    """
    contexts = []

    def _request(req):
        page_log.requests.append(req.url)
        if req.resource_type == "xhr" and req.method == "POST":
            page_log.xhr_posts.append(req.url)

    def make(**options):
        options.setdefault("accept_downloads", True)
        options.setdefault("viewport", {"width": 1280, "height": 900})
        ctx = browser.new_context(**options)
        ctx.set_default_timeout(10_000)
        ctx.on("request", _request)
        contexts.append(ctx)
        page = ctx.new_page()
        page.on("pageerror", lambda exc: page_log.page_errors.append(str(exc)))
        return page

    yield make
    for ctx in contexts:
        ctx.close()
    assert not page_log.foreign_hosts(), f"requests left 127.0.0.1: {page_log.foreign_hosts()}"
    assert not page_log.page_errors, f"JavaScript errors: {page_log.page_errors}"
