"""Demo price lists and annual agreements for the demo channel.

Registered with :mod:`app.demo` from ``distribution.init_app``, so ``flask drp seed-demo`` fills the price-list,
"my prices", price-resolution and agreement pages too. Everything goes through the services
(:mod:`distribution.price_lists`, :mod:`distribution.agreements`) acting as the demo users, so every rule is
checked and the audit log reads as people did it: the channel manager (``manager``) keeps the price lists, drafts
and submits the agreements, the administrator (``admin``) approves them (four eyes).

* Price lists for the business year: tier-1 supply, tier-2 supply, retail guide, 浙江's provincial bid list and
  ZJ101's own list; one item per active product (the bid and own lists: a selection), quantity breaks in cases
  for some products, a floor price for about 40% of them, and a price rise from next month for three.
* Agreements for the business year: active ones for the tier-1 distributors that may be shipped to (their product
  lines, their province) and for about half of their tier-2s (their products, their city), with quarterly targets,
  rebate tiers 1% / 2% / 3% at 90% / 100% / 110%, payment terms of 30 to 90 days, a proposed credit limit and a
  deposit; one tier-1 agreement submitted and awaiting approval, one tier-2 agreement in draft.

Each part adds nothing when its data is already there (any price list; any agreement). Adds and flushes, never
commits. Products and lines a distributor authorised follow the demo stock it was shipped (inventory's ledger).
"""

from __future__ import annotations

import contextlib
import math
import random
import time
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import select
from sqlalchemy.orm import aliased

from app.demo import DEMO_USERS, register_demo_extension
from app.extensions import db
from app.masterdata.resources import can_ship_to
from app.models import Distributor, Product, ProductLine, Region, Terminal, User
from app.tenancy import acting_as, actor_for_user
from distribution import agreements
from distribution import price_lists as prices
from distribution.agreement_schemas import AgreementInSchema
from distribution.models.agreements import Agreement
from distribution.models.pricing import PriceList, PriceListKind, QuantityUnit
from inventory.models import Lot, StockMovement

BID_PROVINCE = "330000"  # 浙江
SPECIFIC_FOR = "ZJ101"
PRICE_KEEPER, DRAFTER, APPROVER = "manager", "manager", "admin"
FULL_RANGE = frozenset(dc for *_rest, dc in DEMO_USERS if dc)
REBATE_TIERS = ({"threshold_pct": "90", "rate_pct": "1"}, {"threshold_pct": "100", "rate_pct": "2"},
                {"threshold_pct": "110", "rate_pct": "3"})
SEASONS = (0.23, 0.24, 0.25, 0.28)  # share of the year's target per quarter
CENT, YUAN_1000 = Decimal("0.01"), Decimal("1000")


# -- prices: the plan ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProductRow:
    id: int
    code: str
    line: str
    dosage_form: str
    base_unit: str
    pack_size: int
    cold_chain: bool
    biologic: bool


@dataclass(frozen=True)
class ProductPrices:
    product_id: int
    retail: Decimal
    tier1: Decimal
    tier2: Decimal
    bid: Decimal | None = None
    specific: Decimal | None = None
    floor: Decimal | None = None
    tier1_breaks: tuple[tuple[int, Decimal], ...] = ()  # (cases, unit price)
    tier2_breaks: tuple[tuple[int, Decimal], ...] = ()
    rise: Decimal | None = None  # tier-1 price from next month


def _money(value: float | Decimal, places: Decimal = CENT) -> Decimal:
    return Decimal(str(value)).quantize(places, rounding=ROUND_HALF_UP)


def _retail(rng: random.Random, p: ProductRow) -> Decimal:
    if p.cold_chain or p.biologic:
        lo, hi = 45, 260
    elif p.dosage_form == "注射剂":
        lo, hi = 6, 120
    else:
        lo, hi = 9, 128
    return _money(math.exp(rng.uniform(math.log(lo), math.log(hi))), Decimal("0.1"))


def plan_prices(rng: random.Random, products: list[ProductRow]) -> list[ProductPrices]:
    """Prices per product from plain values (no session): retail guide, tier supply prices 55–68% and 4–9% above
    that, 浙江's bid price for ~60% of products, ZJ101's own price for 18, breaks in cases, floors and rises."""
    out = []
    specific = set(rng.sample([p.id for p in products], min(18, len(products))))
    for p in products:
        retail = _retail(rng, p)
        tier1 = _money(retail * Decimal(str(rng.uniform(0.55, 0.68))))
        tier2 = _money(tier1 * Decimal(str(rng.uniform(1.04, 1.09))))
        breaks1, breaks2 = (), ()
        if rng.random() < 0.2:
            breaks1 = ((10, _money(tier1 * Decimal("0.97"))),)
            if rng.random() < 0.35:
                breaks1 += ((50, _money(tier1 * Decimal("0.95"))),)
        if rng.random() < 0.1:
            breaks2 = ((5, _money(tier2 * Decimal("0.98"))),)
        out.append(ProductPrices(
            p.id, retail, tier1, tier2,
            bid=_money(tier1 * Decimal(str(rng.uniform(1.01, 1.04)))) if rng.random() < 0.6 else None,
            specific=_money(tier1 * Decimal(str(rng.uniform(0.94, 0.97)))) if p.id in specific else None,
            floor=_money(tier1 * Decimal(str(rng.uniform(0.86, 0.9)))) if rng.random() < 0.4 else None,
            tier1_breaks=breaks1, tier2_breaks=breaks2))
    plain = [i for i, pp in enumerate(out) if not pp.tier1_breaks]
    for i in rng.sample(plain, min(3, len(plain))):
        out[i] = replace(out[i], rise=_money(out[i].tier1 * Decimal("1.03")))
    return out


def _products() -> list[ProductRow]:
    rows = db.session.execute(
        select(Product.id, Product.code, ProductLine.code, Product.dosage_form, Product.base_unit, Product.pack_size,
               Product.cold_chain, Product.approval_number)
        .join(ProductLine, ProductLine.id == Product.product_line_id).where(Product.active).order_by(Product.code))
    return [ProductRow(i, c, line, form, unit, pack, cold, (approval or "").startswith("国药准字S"))
            for i, c, line, form, unit, pack, cold, approval in rows]


def _user(username: str) -> User | None:
    user = db.session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    return user if user is not None and user.active and user.role in agreements.WRITER_ROLES else None


def _acting(user: User | None):
    return acting_as(actor_for_user(user)) if user is not None else contextlib.nullcontext()


# -- prices: writing ----------------------------------------------------------------------------------------------
def seed_price_demo(seed: int, today: date) -> str:
    """The demo price lists (see the module docstring), as the channel manager; nothing when any price list exists.
    Raises PricingError if the demo breaks a pricing rule."""
    started = time.perf_counter()
    if db.session.execute(select(PriceList.id).limit(1)).first() is not None:
        return "price lists: already present; nothing added"
    rows = _products()
    if not rows:
        return "price lists: no active products; nothing added"
    has_specific = db.session.execute(select(Distributor.id).where(Distributor.code == SPECIFIC_FOR)).first()
    has_province = db.session.execute(select(Region.id).where(Region.code == BID_PROVINCE)).first()
    plan = plan_prices(random.Random(f"{seed}:prices"), rows)
    year, start = today.year, date(today.year, 1, 1)
    rise_on = date(today.year + (today.month == 12), today.month % 12 + 1, 1)
    products = {p.id: p for p in db.session.execute(select(Product).where(Product.active)).scalars()}
    counts = defaultdict(int)
    with _acting(_user(PRICE_KEEPER)):
        lists = {
            "tier1": prices.save_price_list({"code": f"T1-{year}", "name": f"一级经销商供货价（{year}版）",
                                             "kind": PriceListKind.TIER1_SUPPLY.value,
                                             "note": "全国一级经销商统一供货价，含税，按基本单位计价"}),
            "tier2": prices.save_price_list({"code": f"T2-{year}", "name": f"二级分销商供货价（{year}版）",
                                             "kind": PriceListKind.TIER2_SUPPLY.value,
                                             "note": "二级分销商统一供货价，含税，按基本单位计价"}),
            "retail": prices.save_price_list({"code": f"RG-{year}", "name": f"建议零售价（{year}版）",
                                              "kind": PriceListKind.RETAIL_GUIDE.value,
                                              "note": "终端建议零售价，仅供参考，不参与供货定价"}),
        }
        if has_province:
            lists["bid"] = prices.save_price_list({
                "code": f"BID-ZJ-{year}", "name": f"浙江省药械采购平台挂网供货价（{year}年度）",
                "kind": PriceListKind.PROVINCIAL_BID.value, "province_code": BID_PROVINCE,
                "note": "浙江省集中采购中标及挂网品种，省内经销商按此价格供货"})
        if has_specific:
            lists["specific"] = prices.save_price_list({
                "code": f"SP-{SPECIFIC_FOR}-{year}", "name": f"{SPECIFIC_FOR} 战略合作专供价（{year}年度）",
                "kind": PriceListKind.DISTRIBUTOR_SPECIFIC.value, "distributor_code": SPECIFIC_FOR,
                "note": "年度战略合作协议约定价格"})
        for pp in plan:
            product = products[pp.product_id]
            if pp.floor is not None:
                prices.set_floor(product, pp.floor, start, note="最低限价，低于此价不得供货")
                counts["floors"] += 1
            for key, price, breaks in (("tier1", pp.tier1, pp.tier1_breaks), ("tier2", pp.tier2, pp.tier2_breaks),
                                       ("retail", pp.retail, ()), ("bid", pp.bid, ()),
                                       ("specific", pp.specific, ())):
                if price is None or key not in lists:
                    continue
                item = prices.add_item(lists[key], product, 1, QuantityUnit.BASE.value, price, start)
                counts["items"] += 1
                for cases, break_price in breaks:
                    prices.add_item(lists[key], product, cases, QuantityUnit.CASE.value, break_price, start,
                                    note=f"满{cases}件优惠")
                    counts["items"] += 1
                    counts["breaks"] += 1
                if key == "tier1" and pp.rise is not None:
                    prices.change_item(item, pp.rise, rise_on, note="原料成本上涨，调价3%")
                    counts["rises"] += 1
    return (f"price lists: {len(lists)} ({', '.join(pl.code for pl in lists.values())}) with {counts['items']} "
            f"items ({counts['breaks']} quantity breaks), {counts['floors']} floor prices, {counts['rises']} price "
            f"rises from {rise_on.isoformat()}; {time.perf_counter() - started:.1f} s")


# -- agreements ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DistributorRow:
    distributor: Distributor
    province_code: str
    province_name: str
    city_code: str
    city_name: str


def _stocked() -> tuple[dict[int, set[str]], dict[int, set[str]]]:
    """Per distributor, the product codes and product lines it was shipped or transferred (the demo stock)."""
    codes: dict[int, set[str]] = defaultdict(set)
    lines: dict[int, set[str]] = defaultdict(set)
    for d_id, code, line in db.session.execute(
            select(StockMovement.to_distributor_id, Product.code, ProductLine.code).distinct()
            .join(Lot, Lot.id == StockMovement.lot_id).join(Product, Product.id == Lot.product_id)
            .join(ProductLine, ProductLine.id == Product.product_line_id)
            .where(StockMovement.kind.in_(("shipment", "transfer")), StockMovement.to_distributor_id.is_not(None),
                   Product.active)):
        codes[d_id].add(code)
        lines[d_id].add(line)
    return codes, lines


def _distributors() -> list[DistributorRow]:
    province, city = aliased(Region), aliased(Region)
    rows = db.session.execute(
        select(Distributor, province.code, province.name, city.code, city.name)
        .join(Region, Region.id == Distributor.region_id).join(province, province.id == Region.province_id)
        .outerjoin(city, city.id == Region.city_unit_id).order_by(Distributor.tier, Distributor.code)).all()
    return [DistributorRow(d, p_code, p_name, c_code or d.region.code, c_name or d.region.name)
            for d, p_code, p_name, c_code, c_name in rows]


def _targets(rng: random.Random, lines: list[str], annual: float, unit_price: dict[str, Decimal],
             year: int) -> list[dict]:
    weights = [rng.uniform(0.5, 1.5) for _ in lines]
    out = []
    for line, weight in zip(lines, weights, strict=True):
        for q, share in enumerate(SEASONS, start=1):
            amount = (Decimal(str(annual * weight / sum(weights) * share)) / YUAN_1000).quantize(
                Decimal("1"), rounding=ROUND_HALF_UP) * YUAN_1000
            amount = max(amount, YUAN_1000)
            out.append({"quarter": f"{year}Q{q}", "product_line_code": line, "amount": str(amount),
                        "quantity": int(amount / unit_price.get(line, Decimal("50")))})
    return out


def _agreement_data(rng: random.Random, row: DistributorRow, year: int, lines: list[str], product_codes: list[str],
                    unit_price: dict[str, Decimal], parent_code: str | None) -> dict:
    d = row.distributor
    if d.tier == 1:
        annual, terms = rng.uniform(3e6, 1.5e7), rng.choice((60, 90, 90))
        credit = max(Decimal("500000"), _money(annual / 12 * terms / 30 * 1.2, Decimal("1E5")))
        deposit = _money(credit * Decimal("0.1"), Decimal("1E4")) if rng.random() < 0.5 else Decimal("0")
        note = f"{year}年度一级经销协议：{row.province_name}全域，按产品线授权"
    else:
        annual, terms = rng.uniform(3e5, 1.5e6), rng.choice((30, 60, 60))
        credit = max(Decimal("100000"), _money(annual / 12 * terms / 30 * 1.2, Decimal("5E4")))
        deposit = Decimal(rng.choice((50000, 50000, 100000)))
        note = f"{year}年度二级分销协议：{row.city_name}，按品种授权，上游一级商 {parent_code}"
    raw = {"distributor_code": d.code, "start_date": f"{year}-01-01", "end_date": f"{year}-12-31",
           "payment_terms_days": terms, "proposed_credit_limit": str(credit.quantize(CENT)),
           "deposit": str(deposit.quantize(CENT)),
           "product_codes": product_codes if d.tier == 2 else [],
           "product_line_codes": lines if d.tier == 1 else [],
           "region_codes": [row.province_code if d.tier == 1 else row.city_code],
           "rebate_tiers": list(REBATE_TIERS), "targets": _targets(rng, lines, annual, unit_price, year),
           "note": note}
    return AgreementInSchema().load(raw)


def seed_agreement_demo(seed: int, today: date) -> str:
    """The demo agreements for the business year (see the module docstring): drafted and submitted by the channel
    manager, approved by the administrator; nothing when any agreement exists or when those two users are missing.
    Raises AgreementError if the demo breaks an agreement rule."""
    started = time.perf_counter()
    if db.session.execute(select(Agreement.id).limit(1)).first() is not None:
        return "agreements: already present; nothing added"
    drafter, approver = _user(DRAFTER), _user(APPROVER)
    if drafter is None or approver is None or drafter.id == approver.id:
        return f"agreements: the demo users {DRAFTER} and {APPROVER} are missing; nothing added"
    rng = random.Random(f"{seed}:agreements")
    rows = _distributors()
    products = _products()
    if not rows or not products:
        return "agreements: no distributors or products; nothing added"
    all_lines = sorted({p.line for p in products})
    plan = {pp.product_id: pp for pp in plan_prices(random.Random(f"{seed}:prices"), products)}
    by_line: dict[str, list[Decimal]] = defaultdict(list)
    for p in products:
        by_line[p.line].append(plan[p.id].tier1)
    unit_price = {line: sum(v) / len(v) for line, v in by_line.items()}
    codes, lines = _stocked()
    year = today.year
    by_id = {r.distributor.id: r for r in rows}
    shippable = [r for r in rows if can_ship_to(r.distributor)]
    tier1 = [r for r in shippable if r.distributor.tier == 1]
    tier2 = [r for r in shippable if r.distributor.tier == 2 and r.distributor.parent_id in {t.distributor.id
                                                                                               for t in tier1}]
    pending = rng.choice([r for r in tier1 if r.distributor.code not in FULL_RANGE] or tier1) if tier1 else None
    unshippable = [r for r in rows if r.distributor.tier == 2 and not can_ship_to(r.distributor)
                   and r.distributor.status == "active"]
    draft = rng.choice(unshippable or tier2) if (unshippable or tier2) else None
    active = [r for r in tier1 if r is not pending]
    active += [r for r in tier2 if r is not draft and codes.get(r.distributor.id) and rng.random() < 0.5]

    def data_for(row: DistributorRow) -> dict:
        d = row.distributor
        parent = by_id.get(d.parent_id)
        mine = sorted(lines.get(d.id) or (lines.get(d.parent_id) if d.tier == 2 else None)
                      or rng.sample(all_lines, 3))
        product_codes = sorted(codes.get(d.id) or [p.code for p in products if p.line in mine][:8])
        if d.tier == 2:
            mine = sorted({p.line for p in products if p.code in product_codes})
        return _agreement_data(rng, row, year, mine, product_codes, unit_price,
                               parent.distributor.code if parent else None)

    made = defaultdict(list)
    for row in active + [r for r in (pending, draft) if r is not None]:
        data = data_for(row)
        if row is draft and row.distributor.licence_expired(today):
            data["note"] = f"{data['note']}；药品经营许可证已过期，待换证后提交审批"
        elif row is draft and row.distributor.gsp_expired(today):
            data["note"] = f"{data['note']}；GSP 证书已过期，待换证后提交审批"
        with _acting(drafter):
            agreement = agreements.create_draft(data, drafter)
            if row is not draft:
                agreement = agreements.submit_agreement(agreement, drafter, "年度协议已与经销商确认，提交审批")
        if row in active:
            with _acting(approver):
                agreement = agreements.approve_agreement(agreement, approver, "条款符合年度渠道政策，同意")
        made[agreement.status].append(row.distributor)
    t1 = sum(d.tier == 1 for d in made["active"])
    return (f"agreements ({year}): {len(made['active'])} active ({t1} tier 1, {len(made['active']) - t1} tier 2), "
            f"{len(made['submitted'])} submitted awaiting approval "
            f"({', '.join(d.code for d in made['submitted']) or '-'}), {len(made['draft'])} draft "
            f"({', '.join(d.code for d in made['draft']) or '-'}); drafted by {DRAFTER}, approved by {APPROVER}; "
            f"{time.perf_counter() - started:.1f} s")


# -- coverage: the demo's reported sell-out as channel-data submissions ---------------------------------------------
def seed_coverage_demo(seed: int, today: date) -> str:
    """The rest of the demo stock's sell-out to terminals (inventory's ledger) reported back as channel data, then
    the coverage rollups and diversion flags built from every current sell-out submission.

    Ingestion's demo runs a few distributors' files through the real pipeline (those sell-out lines never reach the
    ledger directly); every other distributor × month of ledger sell-out becomes one loaded, current submission
    here, with a real CSV of its lines in the raw-file store and a fact per line, shaped like ingestion's output
    (the contract of ingestion.models) without going through the pipeline (whose stock posting the ledger already
    has). A distributor × month that already has a sell-out submission is left alone, so a second run adds
    nothing."""
    import csv
    import io

    from sqlalchemy import insert

    from distribution.metrics import add_months
    from distribution.rollups import rebuild_rollups
    from ingestion import store
    from ingestion.demo import sent_at
    from ingestion.models import RawFile, SellOutFact, Submission

    started = time.perf_counter()
    reported = set(tuple(r) for r in db.session.execute(select(Submission.distributor_id, Submission.period_start)
                                      .where(Submission.kind == "sell_out")).all())
    moves = db.session.execute(
        select(StockMovement.from_distributor_id, StockMovement.business_date, StockMovement.terminal_id,
               Lot.product_id, Lot.id, Lot.lot_no, Lot.expires_on, StockMovement.quantity, Terminal.code,
               Terminal.name, Product.code, Product.generic_name, Product.specification, Product.base_unit)
        .join(Lot, Lot.id == StockMovement.lot_id).join(Product, Product.id == Lot.product_id)
        .join(Terminal, Terminal.id == StockMovement.terminal_id)
        .where(StockMovement.kind == "sell_out", StockMovement.terminal_id.is_not(None),
               StockMovement.from_distributor_id.is_not(None))
        .order_by(StockMovement.from_distributor_id, StockMovement.business_date, StockMovement.id)).all()
    by_file: dict[tuple[int, date], list] = defaultdict(list)
    for m in moves:
        if (m[0], m[1].replace(day=1)) not in reported:
            by_file[m[0], m[1].replace(day=1)].append(m)
    files = []
    for (d_id, start), rows in sorted(by_file.items()):
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(("销售日期", "客户编码", "客户名称", "产品编码", "产品名称", "规格", "批号", "有效期至", "数量",
                         "单位"))
        writer.writerows((r[1].isoformat(), r[8], r[9], r[10], r[11], r[12], r[5], r[6].isoformat(), r[7], r[13])
                         for r in rows)
        stored = store.put(io.BytesIO(out.getvalue().encode("utf-8-sig")))
        raw = RawFile(sha256=stored.sha256, size=stored.size, storage_path=stored.storage_path)
        end = date.fromordinal(add_months(start, 1).toordinal() - 1)
        files.append((Submission(distributor_id=d_id, kind="sell_out", period_kind="month", period_start=start,
                                 period_end=end, version=1, is_current=True, status="loaded", raw_file=raw,
                                 filename=f"流向-{start:%Y%m}-{d_id}.csv", source="upload", rows_read=len(rows),
                                 rows_accepted=len(rows),
                                 # sent 1-3 days after its month (a month still running: today)
                                 submitted_at=sent_at(min(end + timedelta(days=1 + (d_id + start.month) % 3),
                                                          today))), rows))
    db.session.add_all([sub for sub, _rows in files])
    db.session.flush()
    lines = [{"submission_id": sub.id, "distributor_id": sub.distributor_id, "source_row": i + 2,
              "business_date": r[1], "terminal_id": r[2], "product_id": r[3], "lot_id": r[4], "lot_no": r[5],
              "expires_on": r[6], "quantity": r[7]}
             for sub, rows in files for i, r in enumerate(rows)]
    if not lines:
        return "coverage: every distributor × month with sell-out is reported already; nothing added"
    db.session.execute(insert(SellOutFact), lines)
    result = rebuild_rollups()  # ingestion's loads kept the rollups themselves; these facts bypassed the seam
    return (f"coverage: {len(files)} more sell-out submissions with {len(lines)} lines (the demo's sell-out of "
            f"distributors that send no files), {result.presence_rows} presence rows, {result.flags} diversion "
            f"flags; {time.perf_counter() - started:.1f} s")


def register() -> None:
    """Have ``flask drp seed-demo`` seed the demo prices, agreements, orders, returns, a recall and the coverage
    rollups too (called from ``distribution.init_app``)."""
    from distribution.order_demo import seed_order_demo
    from distribution.return_demo import seed_return_demo

    register_demo_extension(seed_price_demo)
    register_demo_extension(seed_agreement_demo)
    register_demo_extension(seed_order_demo)  # after the agreements: orders need them
    register_demo_extension(seed_return_demo)  # after the agreements: it ships real orders to ZJ101
    register_demo_extension(seed_coverage_demo)
