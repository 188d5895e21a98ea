"""Demo returns and a demo recall, registered from :mod:`distribution.demo` (so ``flask drp seed-demo`` fills the
return and recall pages too).

Everything goes through the services as the demo users would do it: the channel manager (``manager``) places and
ships real orders to ZJ101 (finance, ``finance``, approves any that credit holds), so the returns have shipments and
invoices to be checked and priced against; ZJ101's user (``dist_zj``) files four returns, which end up requested
(transit damage, with a photo), approved (awaiting receipt), rejected (with the reason) and credited (received,
restocked, credit memo at the original price); the manager opens one recall of the demo lot held by the most
distributors, and the warehouse receives one holder's recall return, so the dashboard shows recovered and
outstanding quantities.

Adds nothing when any return or recall exists, or when the demo users or locations are missing. Adds and flushes,
never commits.
"""

from __future__ import annotations

import struct
import time
import zlib
from datetime import date, timedelta

from sqlalchemy import func, select

from app.extensions import db
from app.models import Distributor, Product, User
from app.tenancy import acting_as, actor_for_user
from distribution import orders, recalls, returns
from distribution.agreements import agreement_in_force
from distribution.models.returns import Recall, ReturnRequest
from inventory.models import Lot, StockBalance

DISTRIBUTOR, DIST_USER, MANAGER, FINANCE = "ZJ101", "dist_zj", "manager", "finance"


def _user(username: str) -> User | None:
    return db.session.execute(select(User).where(User.username == username, User.active)).scalar_one_or_none()


def tiny_png() -> bytes:
    """A real 1×1 PNG (a stand-in for the photo of a damaged case)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00\xb4\x5a\x3c")) + chunk(b"IEND", b""))


def _ship(d: Distributor, manager: User, finance: User, today: date, want: int) -> list:
    """Ship one case of up to ``want`` authorised products with stock to ``d``; the shipped lines."""
    wh = orders.manufacturer_warehouse()
    candidates = db.session.execute(
        select(Product).join(Lot, Lot.product_id == Product.id).join(StockBalance, StockBalance.lot_id == Lot.id)
        .where(StockBalance.location_id == wh.id, Lot.status == "released", Product.active,
               StockBalance.quantity >= Product.pack_size)
        .group_by(Product.id).having(func.count(Lot.id) >= 1).order_by(Product.code)).scalars().all()
    lines = []
    placed_on, shipped_on = today - timedelta(days=3), today - timedelta(days=1)  # ordered, then shipped days later
    for product in candidates:
        if len(lines) >= want:
            break
        if agreement_in_force(d, product, placed_on) is None:
            continue
        placer = _user(DIST_USER) or manager  # the distributor places its own orders, as in the order demo
        try:
            with acting_as(actor_for_user(placer)):
                order = orders.place_order(d, [{"product_code": product.code, "quantity": 1, "unit": "case"}],
                                           placer, on_date=placed_on, note="演示订单")
            if order.status == "credit_hold":
                with acting_as(actor_for_user(finance)):
                    orders.decide_order_hold(order, True, finance, "年度协议客户，同意发货")
            with acting_as(actor_for_user(manager)):
                shipment = orders.ship_order(order, manager, on_date=shipped_on)
        except orders.OrderError:
            continue
        lines.append(shipment.lines[0])
    return lines


def _reason(lot: Lot, today: date, policy) -> str:
    days = (lot.expires_on - today).days
    if days <= policy.near_expiry_window_days:
        return "near_expiry"
    return "overstock" if days >= policy.overstock_min_shelf_days else "wrong_shipment"


def seed_return_demo(seed: int, today: date) -> str:
    """The demo returns and recall (see the module docstring)."""
    started = time.perf_counter()
    if (db.session.execute(select(ReturnRequest.id).limit(1)).first()
            or db.session.execute(select(Recall.id).limit(1)).first()):
        return "returns and recalls: already present; nothing added"
    manager, finance, dist_user = _user(MANAGER), _user(FINANCE), _user(DIST_USER)
    d = db.session.execute(select(Distributor).where(Distributor.code == DISTRIBUTOR)).scalar_one_or_none()
    if None in (manager, finance, dist_user, d) or orders.manufacturer_warehouse() is None \
            or returns.quarantine_location() is None:
        return "returns and recalls: the demo users, ZJ101 or the warehouses are missing; nothing added"
    shipped = _ship(d, manager, finance, today, 4)
    if len(shipped) < 4:
        return f"returns and recalls: only {len(shipped)} products could be shipped to {DISTRIBUTOR}; nothing added"
    policy = returns.policy()

    def request(sl, reason, note, attachments=()):
        qty = max(sl.quantity // 10, 1)
        with acting_as(actor_for_user(dist_user)):
            return returns.request_return(d, [{"product_code": sl.order_line.product.code, "lot_no": sl.lot.lot_no,
                                              "quantity": qty, "reason": reason}], dist_user, note=note,
                                          attachments=attachments)

    made = []
    made.append(request(shipped[0], "damaged_in_transit", "到货时外箱挤压破损，内包装有渗漏",
                        [returns.Upload("外箱破损.png", tiny_png())]))
    approved = request(shipped[1], _reason(shipped[1].lot, today, policy), "门店调整，申请退回")
    with acting_as(actor_for_user(manager)):
        made.append(returns.decide_return(approved, True, manager, "符合退货政策，同意"))
    rejected = request(shipped[2], "wrong_shipment", "疑似错发规格")
    with acting_as(actor_for_user(manager)):
        made.append(returns.decide_return(rejected, False, manager, "经核对发货单，品种、规格、批号均无误"))
    credited = request(shipped[3], _reason(shipped[3].lot, today, policy), "季末库存调整")
    with acting_as(actor_for_user(manager)):
        returns.decide_return(credited, True, manager, "库存积压，按政策收取退货手续费后同意")
        returns.receive_return(credited, manager)
        returns.dispose_return(credited, manager, {ln.id: "restock" for ln in credited.lines}, "外观完好，合格回库")
    with acting_as(actor_for_user(finance)):
        made.append(returns.issue_credit(credited, finance))
    used = {sl.lot_id for sl in shipped}
    widest = db.session.execute(
        select(StockBalance.lot_id).join(Lot, Lot.id == StockBalance.lot_id)
        .where(StockBalance.distributor_id.is_not(None), StockBalance.quantity > 0, Lot.status == "released",
               StockBalance.lot_id.not_in(used))
        .group_by(StockBalance.lot_id).order_by(func.count(StockBalance.distributor_id.distinct()).desc(),
                                                StockBalance.lot_id).limit(1)).scalar_one_or_none()
    summary = [f"returns: {len(made)} for {DISTRIBUTOR} (" + ", ".join(f"{r.number} {r.status}" for r in made) + ")"]
    if widest is not None:
        with acting_as(actor_for_user(manager)):
            recall = recalls.open_recall([db.session.get(Lot, widest)], "稳定性考察：有关物质呈超标趋势，主动召回",
                                         "II", manager)
            if recall.returns:
                returns.receive_return(recall.returns[0], manager)
        summary.append(f"recall: {recall.number} open, {len(recall.returns)} holders asked to return, one received")
    summary[-1] += f"; {time.perf_counter() - started:.1f} s"
    return "\n".join(summary)
