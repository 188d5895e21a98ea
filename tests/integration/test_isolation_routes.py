"""A distributor user cannot read or change another distributor's records through ANY route.

Every rule in the URL map is exercised (pages, API, exports, imports, lookups) with every resource name and the
ids of records the user must not reach, by GET and by every writing method the rule accepts. No response may
contain another tenant's markers (xlsx downloads are opened and read), and no write may change another tenant's
rows. The same crawl as an admin must find the markers, which proves the crawl reaches them.
"""

from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import func, select

from app.masterdata import services
from app.masterdata.resources import RESOURCES, target_list_entries, target_lists
from app.models import ApiToken, AuditLog, Distributor, StockLocation, TargetList, Terminal, User
from distribution.models.agreements import Agreement, AgreementEvent, AgreementProductLine, AgreementTerminal
from distribution.models.orders import Order
from distribution.models.pricing import PriceFloor, PriceItem, PriceList
from inventory.models import Lot, StockBalance, StockMovement

MARKERS = ("ISO-B", "乙方秘密医药", "T-SECRET", "秘密终端", "userb-secret", "SECRET-TL", "WH-ISO-B", "13912345678",
           "SECRET-PRICE", "66.6666", "SECRET-AGREEMENT")
MARKERS = MARKERS + ("LOT-SECRET-B",)  # inventory: a lot only B holds
MARKERS = MARKERS + ("INV-SECRET-B", "SO-SECRET-B")  # credit: B's invoice and held order
MARKERS = MARKERS + ("SECRET-ORDER",)  # orders: B's order (its note)
MARKERS = MARKERS + ("RET-SECRET-B", "SECRET-B-PHOTO", "ATT-SECRET-B", "RECALL-SECRET-B")  # returns and recalls
# ingestion: B's submission (file name and raw bytes), a rejected and a waiting row, a review item, B's layout,
# drop folder and closed month
MARKERS = MARKERS + ("SUB-SECRET-B", "RAW-SECRET-B", "REJ-SECRET-B", "PEND-SECRET-B", "REV-SECRET-B", "TPL-SECRET-B",
                     "DROP-SECRET-B", "CLOSE-SECRET-B")
MARKERS = MARKERS + ("SECRET-SELLOUT",)  # coverage: B's channel-data file (its name), its rollups and flags
SKIP_ENDPOINTS = {"static", "bootstrap.static", "auth.logout", "api-docs.openapi_json"}


@pytest.fixture
def world(db_session, make_distributor, make_terminal, make_user, make_product_line):
    a = make_distributor(code="ISO-A", name="甲方医药有限公司")
    b = make_distributor(code="ISO-B", name="乙方秘密医药有限公司", contact_phone="13912345678")
    terminal = make_terminal(code="T-SECRET", name="秘密终端医院", region_code="330106")
    pl = make_product_line(code="PLX")
    tl = services.save_record(target_lists, {"code": "SECRET-TL", "name": "秘密目标", "product_line_code": "PLX",
                                             "region_code": "330000", "year": 2026})
    services.save_record(target_list_entries, {"target_list_code": "SECRET-TL", "terminal_code": "T-SECRET"})
    user_a = make_user("distributor", a, username="usera")
    user_b = make_user("distributor", b, username="userb-secret")
    from app.auth.services import create_token

    token_b, _ = create_token(user_b, "b-erp")
    db_session.flush()
    loc_b = db_session.execute(select(StockLocation).where(StockLocation.distributor_id == b.id)).scalar_one()
    prices = _price_world(db_session, pl)
    agreements = _agreement_world(make_user)
    return {"a": a, "b": b, "terminal": terminal, "tl": tl, "pl": pl, "user_a": user_a, "user_b": user_b,
            "token_b": token_b, "loc_b": loc_b,
            **_stock_world(db_session, pl, loc_b, terminal), **prices, **agreements, **_credit_world(b),
            **_order_world(b, make_user), **_return_world(db_session, b, loc_b, make_user),
            **_ingestion_world(db_session, b), **_coverage_world(db_session, b, terminal, make_terminal)}


def _return_world(db_session, b, loc_b, make_user):
    """B's return of a lot it holds (a marker in its note) with a photo (markers in its name and bytes), and a recall
    (a marker in its reason) of another lot B holds, which files B's recall return."""
    from datetime import date

    from distribution import recalls, returns
    from distribution.models.returns import ReturnLine, ReturnRequest
    from inventory import services as inventory

    lot = db_session.execute(select(Lot).where(Lot.lot_no == "LOT-SECRET-B")).scalar_one()
    ret = ReturnRequest(number="RT-ISO-B", distributor_id=b.id, status="requested", on_date=date(2026, 6, 1),
                        note="RET-SECRET-B 乙方退货")
    ret.lines.append(ReturnLine(distributor_id=b.id, line_no=1, product_id=lot.product_id, lot_id=lot.id, quantity=3,
                                reason="overstock", restocking_fee_pct=10))
    db_session.add(ret)
    db_session.flush()
    att = returns.add_attachment(ret, returns.Upload("SECRET-B-PHOTO.png", b"\x89PNG\r\n\x1a\nATT-SECRET-B"), None)
    wh = db_session.execute(select(StockLocation).where(StockLocation.code == "ISO-MAN-WH")).scalar_one()
    rlot = inventory.register_lot(lot.product, "LOT-RCL-B", date(2025, 1, 1), date(2026, 12, 1))
    inventory.post_movement("receipt", rlot, 20, to_location=wh)
    inventory.post_movement("shipment", rlot, 8, from_location=wh, to_location=loc_b)
    recall = recalls.open_recall([rlot], "RECALL-SECRET-B 乙方批号召回", "II", make_user("channel_manager"))
    return {"return_b": ret, "attachment_b": att, "recall_b": recall}


def _ingestion_world(db_session, b):
    """B's loaded submission (its raw file in the store), with a rejected row, a row waiting on a review item,
    B's mapping template, drop folder and a closed month, each carrying a marker."""
    import io
    from datetime import date

    from ingestion import store
    from ingestion.models import (
        DropSource,
        MappingTemplate,
        PendingRow,
        PeriodClosing,
        RawFile,
        RejectedRow,
        ReviewItem,
        Submission,
    )

    stored = store.put(io.BytesIO("销售日期,客户名称\n2026-05-01,RAW-SECRET-B\n".encode()))
    raw = RawFile(sha256=stored.sha256, size=stored.size, storage_path=stored.storage_path)
    tpl = MappingTemplate(distributor_id=b.id, kind="sell_out", signature="f" * 64,
                          headers=["TPL-SECRET-B", "日期"], columns={"business_date": "日期"})
    db_session.add_all([raw, tpl])
    db_session.flush()
    sub = Submission(distributor_id=b.id, kind="sell_out", period_kind="month", period_start=date(2026, 3, 1),
                     period_end=date(2026, 3, 31), status="loaded", is_current=True, raw_file_id=raw.id,
                     filename="SUB-SECRET-B.csv", source="upload", rows_read=2, rows_rejected=1, rows_review=1,
                     template_id=tpl.id)
    item = ReviewItem(distributor_id=b.id, subject="customer", key_kind="name", key="rev-secret-b",
                      raw_name="REV-SECRET-B", candidates=[], rows_waiting=1)
    db_session.add_all([sub, item])
    db_session.flush()
    db_session.add_all([
        RejectedRow(submission_id=sub.id, distributor_id=b.id, source_row=2, reasons="unknown_product",
                    raw={"客户名称": "REJ-SECRET-B"}),
        PendingRow(submission_id=sub.id, distributor_id=b.id, source_row=3, customer_item_id=item.id, values={},
                   raw={"客户名称": "PEND-SECRET-B"}),
        DropSource(distributor_id=b.id, location="/srv/DROP-SECRET-B"),
        PeriodClosing(distributor_id=b.id, month=date(2026, 4, 1), note="CLOSE-SECRET-B")])
    db_session.flush()
    closing = db_session.execute(select(PeriodClosing).where(PeriodClosing.distributor_id == b.id)).scalar_one()
    return {"submission_b": sub, "template_b": tpl, "closing_b": closing}


def _coverage_world(db_session, b, terminal, make_terminal):
    """B's sell-out file (the secret terminal, and one outside its territory: a diversion flag), through the
    facts-changed seam, and a monthly channel report."""
    from datetime import date

    from sqlalchemy import select as sel

    from app.models import Product
    from distribution.channel_reports import generate_report
    from tests.integration.distribution.coverage_world import fact, load_sell_out

    product = db_session.execute(sel(Product).where(Product.code == "ISO-PX")).scalar_one()
    far = make_terminal(code="T-SECRET-JS", name="秘密终端江苏", region_code="320102")
    load_sell_out(db_session, b, date(2026, 5, 1), [fact(terminal, product, 7, date(2026, 5, 3)),
                                                     fact(far, product, 3, date(2026, 5, 4))],
                  filename="SECRET-SELLOUT-乙方流向.xlsx")
    return {"report": generate_report("2026-05", "iso-test")}


def _credit_world(b):
    """B's credit account (limit 777.77), an overdue invoice and an order on credit hold, with markers."""
    from datetime import date
    from decimal import Decimal

    from credit import services as credit

    credit.set_credit_terms(b, limit=Decimal("777.77"), reason="SECRET-CREDIT")
    credit.post_invoice(b, None, Decimal("4321.00"), date(2026, 3, 1), reference="INV-SECRET-B")
    credit.check_and_reserve(b, "SO-SECRET-B", Decimal("10"))
    return {"order_ref_b": "SO-SECRET-B"}


def _order_world(b, make_user):
    """B's order (held: B has no credit limit) with a marker in its note."""
    from distribution.orders import place_order

    order_b = place_order(b, [{"product_code": "ISO-PX", "quantity": 1, "unit": "case"}], make_user("channel_manager"),
                          note="SECRET-ORDER 乙方秘密订单")
    return {"order_b": order_b}


def _agreement_world(make_user):
    """B's active annual agreement: its line, territory and the secret terminal, with a marker in its note."""
    from distribution import agreements
    from distribution.agreement_schemas import AgreementInSchema

    drafter, approver = make_user("channel_manager"), make_user("channel_manager")
    data = AgreementInSchema().load({
        "distributor_code": "ISO-B", "start_date": "2026-01-01", "end_date": "2026-12-31", "payment_terms_days": 45,
        "proposed_credit_limit": "777777.00", "product_line_codes": ["PLX"], "region_codes": ["330000"],
        "terminal_codes": ["T-SECRET"], "note": "SECRET-AGREEMENT 乙方秘密协议",
        "targets": [{"quarter": "2026Q3", "product_line_code": "PLX", "amount": "1000.00", "quantity": 10}],
        "rebate_tiers": [{"threshold_pct": "90", "rate_pct": "1"}]})
    agreement_b = agreements.create_draft(data, drafter)
    agreements.submit_agreement(agreement_b, drafter)
    agreements.approve_agreement(agreement_b, approver)
    return {"agreement_b": agreement_b}


def _price_world(db_session, pl):
    """A product both distributors buy: a shared tier-1 price, and B's own (secret) distributor-specific price."""
    from datetime import date
    from decimal import Decimal

    from app.models import Product
    from distribution import price_lists

    product = Product(code="ISO-PX", generic_name="隔离测试药", specification="1", dosage_form="片剂", base_unit="盒",
                      pack_size=10, shelf_life_months=24, product_line=pl)
    db_session.add(product)
    tier1 = price_lists.save_price_list({"code": "ISO-T1", "name": "一级供货价", "kind": "tier1_supply"})
    list_b = price_lists.save_price_list({"code": "SECRET-PRICE", "name": "乙方专供价", "kind": "distributor_specific",
                                          "distributor_code": "ISO-B"})
    price_lists.add_item(tier1, product, 1, "base", Decimal("12.0000"), date(2026, 1, 1))
    item_b = price_lists.add_item(list_b, product, 1, "base", Decimal("66.6666"), date(2026, 1, 1))
    return {"price_list_b": list_b, "price_item_b": item_b}


def _stock_world(db_session, pl, loc_b, terminal):
    """A lot (near expiry) shipped from our warehouse to B's and partly sold out to the secret terminal."""
    from datetime import date

    from app.models import Product
    from inventory import services as inventory

    product = Product(code="ISO-INV", generic_name="隔离库存药", specification="1", dosage_form="片剂", base_unit="盒",
                      pack_size=10, shelf_life_months=24, product_line=pl)
    wh = StockLocation(code="ISO-MAN-WH", name="总仓", kind="manufacturer")
    db_session.add_all([product, wh])
    db_session.flush()
    lot_b = inventory.register_lot(product, "LOT-SECRET-B", date(2025, 1, 1), date(2026, 10, 1))
    inventory.post_movement("receipt", lot_b, 100, to_location=wh)
    inventory.post_movement("shipment", lot_b, 40, from_location=wh, to_location=loc_b)
    inventory.post_movement("sell_out", lot_b, 5, from_location=loc_b, terminal=terminal)
    return {"lot_b": lot_b}


def _ids_for(world) -> dict[str, list[int]]:
    entry_ids = [e.id for e in world["tl"].entries]
    return {
        "distributors": [world["b"].id],
        "locations": [world["loc_b"].id],
        "terminals": [world["terminal"].id],
        "target_lists": [world["tl"].id],
        "target_list_entries": entry_ids,
        "products": [],
        "product_lines": [world["pl"].id],
        "regions": [],
    }


def _urls(app, world):
    ids = _ids_for(world)
    for rule in app.url_map.iter_rules():
        if rule.endpoint in SKIP_ENDPOINTS:
            continue
        args = set(rule.arguments)
        names = list(RESOURCES) if "name" in args else [None]
        if "name" in args:
            allowed = re.search(r"any\(([^)]*)\)", rule.rule)
            names = [n for n in names if allowed is None or n in allowed.group(1)]
        for name in names:
            values: dict = {"name": name} if name else {}
            if "record_id" in args:
                key = name or rule.rule.split("/")[3]  # /api/v1/<resource>/<record_id>
                for rid in ids.get(key, []):
                    yield rule, {**values, "record_id": rid}
                continue
            if "user_id" in args:
                values["user_id"] = world["user_b"].id
            if "token_id" in args:
                values["token_id"] = world["token_b"].id
            if "code" in args:
                values["code"] = "en"
            if "token" in args:
                values["token"] = f"{world['user_b'].id}-abc"
            if "price_list_id" in args:
                values["price_list_id"] = world["price_list_b"].id
            if "item_id" in args:
                values["item_id"] = world["price_item_b"].id
            if "agreement_id" in args:
                values["agreement_id"] = world["agreement_b"].id
            if "lot_id" in args:
                values["lot_id"] = world["lot_b"].id
            if "distributor_id" in args:
                values["distributor_id"] = world["b"].id
            if "order_ref" in args:
                values["order_ref"] = world["order_ref_b"]
            if "order_id" in args:
                values["order_id"] = world["order_b"].id
            if "submission_id" in args:
                values["submission_id"] = world["submission_b"].id
            if "template_id" in args:
                values["template_id"] = world["template_b"].id
            if "closing_id" in args:
                values["closing_id"] = world["closing_b"].id
            if "order_ref" in args:  # credit's hold queue names orders by number
                values["order_ref"] = world["order_b"].number
            if "return_id" in args:
                values["return_id"] = world["return_b"].id
            if "attachment_id" in args:
                values["attachment_id"] = world["attachment_b"].id
            if "recall_id" in args:
                values["recall_id"] = world["recall_b"].id
            if "report_id" in args:
                values["report_id"] = world["report"].id
            yield rule, values


def _build(app, rule, values) -> str:
    with app.test_request_context():
        from flask import url_for

        return url_for(rule.endpoint, **values)


def _text(response) -> str:
    if response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" or (
        response.data[:2] == b"PK"
    ):
        from openpyxl import load_workbook

        wb = load_workbook(io.BytesIO(response.data), read_only=True)
        return " ".join(str(c) for ws in wb.worksheets for row in ws.iter_rows(values_only=True) for c in row)
    if response.mimetype.startswith("image/"):  # return attachments: the bytes, searched as they are
        return response.data.decode("latin-1")
    if response.mimetype == "application/pdf":
        from tests.integration.inventory.test_trace import pdf_text

        return pdf_text(response.data)
    return response.get_data(as_text=True)


def _snapshot(db_session, world) -> dict:
    db_session.expire_all()
    b = db_session.execute(select(Distributor).where(Distributor.code == "ISO-B")
                           .execution_options(skip_tenant_scope=True)).scalar_one()
    return {
        "b": services.serialise(RESOURCES["distributors"], b),
        "counts": {m.__name__: db_session.execute(select(func.count()).select_from(m)
                                                  .execution_options(skip_tenant_scope=True)).scalar_one()
                   for m in (Distributor, StockLocation, Terminal, TargetList, User, ApiToken, PriceList, PriceItem,
                             PriceFloor)},
        "price_b": db_session.execute(select(PriceList.name, PriceList.active, PriceItem.unit_price,
                                             PriceItem.effective_to)
                                      .join(PriceItem, PriceItem.price_list_id == PriceList.id)
                                      .where(PriceList.code == "SECRET-PRICE")
                                      .execution_options(skip_tenant_scope=True)).one(),
        "agreement_b": db_session.execute(select(Agreement.status, Agreement.note, Agreement.payment_terms_days)
                                          .where(Agreement.id == world["agreement_b"].id)
                                          .execution_options(skip_tenant_scope=True)).one(),
        "agreement_counts": [db_session.execute(select(func.count()).select_from(m)
                                                .execution_options(skip_tenant_scope=True)).scalar_one()
                             for m in (Agreement, AgreementEvent, AgreementProductLine, AgreementTerminal)],
        "stock": ([db_session.execute(select(func.count()).select_from(m)).scalar_one()
                   for m in (Lot, StockMovement, StockBalance)],
                  db_session.execute(select(Lot.status).where(Lot.lot_no == "LOT-SECRET-B")).scalar_one()),
        "order_b": db_session.execute(select(Order.status, Order.total, Order.note)
                                      .where(Order.id == world["order_b"].id)
                                      .execution_options(skip_tenant_scope=True)).one(),
        "user_b": db_session.execute(select(User.role, User.active, User.password_hash)
                                     .where(User.username == "userb-secret")).one(),
        "token_b_revoked": db_session.execute(select(ApiToken.revoked_at).where(ApiToken.name == "b-erp")).scalar(),
        "loc_b": db_session.execute(select(StockLocation.name, StockLocation.active)
                                    .where(StockLocation.code == "WH-ISO-B")).one(),
        "terminal": db_session.execute(select(Terminal.name, Terminal.active)
                                       .where(Terminal.code == "T-SECRET")).one(),
        "credit": _credit_snapshot(db_session),
        "returns": _return_snapshot(db_session),
        "ingestion": _ingestion_snapshot(db_session),
    }


def _return_snapshot(db_session):
    from distribution.models.returns import Recall, ReturnAttachment, ReturnEvent, ReturnLine, ReturnRequest

    unscoped = {"skip_tenant_scope": True}
    return (db_session.execute(select(ReturnRequest.number, ReturnRequest.status, ReturnRequest.note)
                               .order_by(ReturnRequest.id).execution_options(**unscoped)).all(),
            db_session.execute(select(Recall.number, Recall.status).order_by(Recall.id)).all(),
            [db_session.execute(select(func.count()).select_from(m).execution_options(**unscoped)).scalar_one()
             for m in (ReturnLine, ReturnEvent, ReturnAttachment)])


def _ingestion_snapshot(db_session):
    from ingestion.models import (
        MappingTemplate,
        PendingRow,
        PeriodClosing,
        RejectedRow,
        ReviewItem,
        Submission,
    )

    unscoped = {"skip_tenant_scope": True}
    return (db_session.execute(select(Submission.id, Submission.status, Submission.is_current, Submission.rows_review)
                               .order_by(Submission.id).execution_options(**unscoped)).all(),
            db_session.execute(select(MappingTemplate.id, MappingTemplate.confirmed_at)
                               .order_by(MappingTemplate.id).execution_options(**unscoped)).all(),
            db_session.execute(select(ReviewItem.id, ReviewItem.status).order_by(ReviewItem.id)).all(),
            [db_session.execute(select(func.count()).select_from(m).execution_options(**unscoped)).scalar_one()
             for m in (PendingRow, RejectedRow, PeriodClosing)])


def _credit_snapshot(db_session):
    from credit.models import CreditAccount, CreditReservation, ReceivableEntry, TemporaryIncrease

    unscoped = {"skip_tenant_scope": True}
    return (db_session.execute(select(CreditAccount.distributor_id, CreditAccount.credit_limit,
                                      CreditAccount.manual_hold).order_by(CreditAccount.id)
                               .execution_options(**unscoped)).all(),
            db_session.execute(select(CreditReservation.order_ref, CreditReservation.status, CreditReservation.amount)
                               .order_by(CreditReservation.id).execution_options(**unscoped)).all(),
            [db_session.execute(select(func.count()).select_from(m).execution_options(**unscoped)).scalar_one()
             for m in (ReceivableEntry, TemporaryIncrease)])


HOSTILE_FORM = {"name": "HACKED", "contact_phone": "000000", "code": "HACK", "active": "", "role": "admin",
                "display_name": "HACKED", "password": "Hacked-password-1", "licence_no": "HACK"}


def _crawl(app, client, world, methods=("GET",)):
    seen = []
    for rule, values in _urls(app, world):
        url = _build(app, rule, values)
        for method in sorted(rule.methods & set(methods)):
            if method == "GET":
                r = client.get(url)
            elif url.startswith("/api/"):
                r = client.open(url, method=method, json={"name": "HACKED", "contact_phone": "000000"})
            elif url.endswith("/import"):
                r = client.post(url, data={"file": (io.BytesIO(b"not an excel file"), "x.xlsx")},
                                content_type="multipart/form-data")
            else:
                r = client.open(url, method=method, data=HOSTILE_FORM)
            seen.append((method, url, r.status_code, _text(r)))
            r.close()  # file downloads (a submission's raw file) hold the file open until closed
    return seen


def test_distributor_cannot_read_others_anywhere(app, db_session, login, world):
    client = login(world["user_a"])
    leaks = [(m, url, status, mk) for m, url, status, body in _crawl(app, client, world)
             for mk in MARKERS if mk in body]
    assert leaks == []


def test_admin_crawl_finds_the_markers(app, db_session, login, world):
    """Control: the same crawl reaches the records, so an empty leak list above means something."""
    client = login("admin")
    found = {mk for _, _, status, body in _crawl(app, client, world) for mk in MARKERS if mk in body}
    assert {"ISO-B", "T-SECRET", "SECRET-TL", "WH-ISO-B", "SECRET-PRICE", "66.6666", "SECRET-AGREEMENT"} <= found
    assert "LOT-SECRET-B" in found
    assert {"INV-SECRET-B", "SO-SECRET-B"} <= found
    assert {"RET-SECRET-B", "SECRET-B-PHOTO", "ATT-SECRET-B", "RECALL-SECRET-B"} <= found  # incl. the download
    assert {"SUB-SECRET-B", "RAW-SECRET-B", "REJ-SECRET-B", "PEND-SECRET-B", "REV-SECRET-B", "TPL-SECRET-B",
            "DROP-SECRET-B", "CLOSE-SECRET-B"} <= found
    assert "SECRET-SELLOUT" in found  # B's file: on its 360° page and in the diversion list


def test_distributor_cannot_change_others_anywhere(app, db_session, login, world):
    client = login(world["user_a"])
    before = _snapshot(db_session, world)
    audit_before = db_session.execute(select(func.max(AuditLog.id))).scalar_one()
    results = _crawl(app, client, world, methods=("POST", "PUT", "PATCH", "DELETE"))
    assert results, "the crawl must have tried writes"
    assert _snapshot(db_session, world) == before
    ok = [(m, url, s) for m, url, s, _ in results if s < 300 or (s == 302 and "/login" not in url)]
    # no write on another tenant's record may succeed (redirects back to a form are not success either)
    assert [r for r in ok if "ISO" in r[1]] == []
    # only harmless audit entries (e.g. none) may have been written by refused attempts
    changes = db_session.execute(select(AuditLog.action, AuditLog.entity_type, AuditLog.after)
                                 .where(AuditLog.id > audit_before)).all()
    assert not [c for c in changes if c.action in ("update", "delete", "create")]


def test_distributor_token_sees_only_own(app, db_session, world):
    from app.auth.services import create_token

    _, secret = create_token(world["user_a"], "a-erp")
    c = app.test_client()
    h = {"Authorization": f"Bearer {secret}"}
    r = c.get("/api/v1/distributors", headers=h)
    assert r.status_code == 200
    assert [d["code"] for d in r.json["items"]] == ["ISO-A"]
    assert c.get(f"/api/v1/distributors/{world['b'].id}", headers=h).status_code == 404
    r = c.patch(f"/api/v1/distributors/{world['b'].id}", json={"contact_phone": "0571-1"}, headers=h)
    assert r.status_code == 404
    assert c.get("/api/v1/terminals", headers=h).status_code == 403
    r = c.patch(f"/api/v1/distributors/{world['a'].id}", json={"contact_phone": "0571-1234567"}, headers=h)
    assert r.status_code == 200 and r.json["contact_phone"] == "0571-1234567"
    r = c.patch(f"/api/v1/distributors/{world['a'].id}", json={"licence_no": "X"}, headers=h)
    assert r.status_code == 422
