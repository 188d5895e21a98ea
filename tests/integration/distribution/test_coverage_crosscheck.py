"""Cross-check: on generated channel data (random terminals, target lists, agreements, seven months of sell-out
with returns and resubmissions), every dashboard number the API shows equals the same number recomputed from the
raw facts with plain pandas — region containment by GB/T 2260 code prefixes, not by the region tree the app uses."""

from __future__ import annotations

import random
from datetime import date
from decimal import Decimal

import pandas as pd
import pytest
from sqlalchemy import text

from tests.integration.distribution.coverage_world import fact, load_sell_out, make_agreement, target_list

COUNTIES = ["330102", "330105", "330106", "330203", "330205", "320102", "320104", "320105"]
CITIES = ["330100", "330200", "320100"]
MONTHS = [date(2025, 11, 1), date(2025, 12, 1)] + [date(2026, m, 1) for m in range(1, 6)]
GRADES = ["三级甲等", "二级甲等", "一级", None]
WEIGHTS = {"三级甲等": 10, "二级甲等": 5, "一级": 2, None: 1, "large": 3, "medium": 2, "small": 1}


@pytest.fixture
def generated(db_session, make_terminal, make_product, make_product_line, make_distributor, make_user, region):
    rng = random.Random(20260615)
    lines = [make_product_line(code=f"XC-L{i}") for i in range(3)]
    products = [make_product(code=f"XC-P{i}{j}", product_line=lines[i]) for i in range(3) for j in range(2)]
    terminals = []
    for n in range(40):
        kind = rng.choice(["hospital", "hospital", "pharmacy", "clinic"])
        grade = rng.choice(GRADES) if kind == "hospital" else None
        size = rng.choice(["large", "medium", "small"]) if kind == "pharmacy" else None
        own = rng.choice([None, None, None, 7])
        terminals.append(make_terminal(code=f"XC-T{n:02d}", type=kind, grade=grade, pharmacy_size=size,
                                       potential_weight=own, region_code=rng.choice(COUNTIES),
                                       active=n != 39))  # one inactive terminal: never a target
    for year in (2025, 2026):
        for i, line in enumerate(lines):
            target_list(db_session, f"XC-TL{year}-{i}", line, region("330000"), year,
                        rng.sample(terminals, 18))
    dists = [make_distributor(code=f"XC-D{k}", region_code=CITIES[k]) for k in range(3)]
    territories = {}
    for k, d in enumerate(dists):
        cities = rng.sample(CITIES, 2 if k == 0 else 1)
        covered = [line.code for line in rng.sample(lines, 2)]
        make_agreement(make_user, d, lines=covered, regions=cities, start="2025-01-01", end="2026-12-31")
        territories[d.id] = (set(cities), set(covered))
    current = {}
    for d in dists:
        for m in MONTHS:
            rows = [fact(rng.choice(terminals), rng.choice(products),
                         rng.choice([1, 2, 3, 5, 8, -2, -3]) if rng.random() < 0.85 else rng.randint(-9, -1),
                         m.replace(day=rng.randint(1, 28))) for _ in range(rng.randint(8, 25))]
            for r in rows:  # amounts (negative on returns) for the sales rollup, not drawn from rng
                r["amount"] = Decimal(r["quantity"]) * Decimal("12.37")
            current[d.id, m] = load_sell_out(db_session, d, m, rows)
            if rng.random() < 0.3:  # a resubmission: the new version replaces the old one
                rows = [fact(rng.choice(terminals), rng.choice(products), rng.randint(1, 6),
                             m.replace(day=rng.randint(1, 28))) for _ in range(rng.randint(5, 20))]
                current[d.id, m] = load_sell_out(db_session, d, m, rows, replaces=current[d.id, m])
    return {"lines": lines, "products": products, "terminals": terminals, "dists": dists,
            "territories": territories}


def _frames(db_session):
    """The raw facts of current submissions and the master data, as pandas frames (no rollup is read)."""
    def frame(sql):
        result = db_session.execute(text(sql))
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))

    facts = frame("SELECT f.distributor_id, f.terminal_id, f.product_id, f.business_date, f.quantity FROM "
                  "sell_out_fact f JOIN submission s ON s.id = f.submission_id WHERE s.is_current "
                  "AND s.status = 'loaded' AND s.kind = 'sell_out' AND f.terminal_id IS NOT NULL")
    facts["month"] = pd.to_datetime(facts["business_date"]).dt.to_period("M").dt.to_timestamp().dt.date
    terminals = frame("SELECT t.id, t.code, t.type, t.grade, t.pharmacy_size, t.potential_weight, t.active, "
                      "r.code AS region FROM terminal t JOIN region r ON r.id = t.region_id "
                      "WHERE t.code LIKE 'XC-%'")
    terminals["weight"] = [int(w) if pd.notna(w) else WEIGHTS.get(g if k == "hospital" else s if k == "pharmacy"
                                                                    else None, 1)
                           for w, g, s, k in zip(terminals.potential_weight, terminals.grade,
                                                 terminals.pharmacy_size, terminals.type, strict=True)]
    targets = frame("SELECT tl.year, pl.code AS line, e.terminal_id FROM target_list_entry e JOIN target_list tl "
                    "ON tl.id = e.target_list_id JOIN product_line pl ON pl.id = tl.product_line_id "
                    "WHERE tl.active AND pl.code LIKE 'XC-%'")
    products = frame("SELECT p.id, p.code, pl.code AS line FROM product p JOIN product_line pl "
                     "ON pl.id = p.product_line_id WHERE p.code LIKE 'XC-%'")
    return facts, terminals, targets, products


def _inside(code: str, region: str | None) -> bool:
    if not region:
        return True
    prefix = region[:2] if region.endswith("0000") else region[:4] if region.endswith("00") else region
    return code.startswith(prefix)


def expected(frames, territories, *, months, product=None, line=None, region=None, distributor=None, ttype=None):
    facts, terminals, targets, products = frames
    in_scope = products if product is None and line is None else products[
        (products.code == product) if product else (products.line == line)]
    lines = sorted(set(in_scope.line)) if (product or line) else None
    net = facts[facts.product_id.isin(in_scope.id)].groupby(
        ["distributor_id", "terminal_id", "product_id", "month"], as_index=False).quantity.sum()
    net = net[net.quantity > 0]
    if distributor is not None:
        net = net[net.distributor_id == distributor]

    def bought_in(ms) -> set[int]:
        return set(net[net.month.isin(ms)].terminal_id)

    ok = terminals[[_inside(c, region) for c in terminals.region]]
    if ttype:
        ok = ok[ok.type == ttype]
    year = months[-1].year
    tg = targets[(targets.year == year) & (targets.line.isin(lines) if lines else True)]
    cand = ok[ok.active & ok.id.isin(tg.terminal_id)]
    if distributor is not None:
        cities, covered = territories[distributor]
        if lines and not set(lines) & covered:
            cand = cand.iloc[0:0]
        cand = cand[[any(_inside(c, city) for city in cities) for c in cand.region]]
    bought = cand[cand.id.isin(bought_in(months))]
    end = months[-1]
    before = date(end.year - (end.month == 1), (end.month - 2) % 12 + 1, 1)
    now_all, before_all = bought_in([end]) & set(ok.id), bought_in([before]) & set(ok.id)
    city = {r: r[:4] + "00" for r in terminals.region}
    target_cities = {city[r] for r in cand.region}
    sold_cities = {city[r] for r in ok[ok.id.isin(bought_in(months))].region}
    return {"targets": len(cand), "bought": len(bought), "target_weight": int(cand.weight.sum()),
            "bought_weight": int(bought.weight.sum()), "new_terminals": len(now_all - before_all),
            "lost_terminals": len(before_all - now_all), "target_cities": len(target_cities),
            "cities_with_sales": len(target_cities & sold_cities)}


SLICES = [
    ({"period": "2026-05"}, {}),
    ({"period": "2026-05", "product": "XC-P00"}, {"product": "XC-P00"}),
    ({"period": "2026-03", "product_line": "XC-L1"}, {"line": "XC-L1"}),
    ({"period": "2026Q1", "period_kind": "quarter", "product": "XC-P21"}, {"product": "XC-P21"}),
    ({"period": "2026-04", "period_kind": "ytd", "product_line": "XC-L2"}, {"line": "XC-L2"}),
    ({"period": "2026-01", "period_kind": "rolling", "window": 3, "product": "XC-P10"}, {"product": "XC-P10"}),
    ({"period": "2026-05", "region": "330000"}, {"region": "330000"}),
    ({"period": "2026-05", "region": "330100", "product_line": "XC-L0"}, {"region": "330100", "line": "XC-L0"}),
    ({"period": "2026-02", "region": "320104", "product": "XC-P01"}, {"region": "320104", "product": "XC-P01"}),
    ({"period": "2026-05", "terminal_type": "hospital"}, {"ttype": "hospital"}),
    ({"period": "2026-03", "terminal_type": "pharmacy", "product_line": "XC-L1"}, {"ttype": "pharmacy",
                                                                                  "line": "XC-L1"}),
]


def _months(args) -> list[date]:
    from distribution.metrics import parse_period

    return parse_period(args.get("period_kind", "month"), args["period"], date(2026, 5, 1),
                        args.get("window", 3)).months


def test_api_numbers_and_drill_down_equal_pandas_on_raw_facts(generated, db_session, login):
    c = login("channel_manager")
    frames = _frames(db_session)
    assert len(frames[0]) > 200  # enough facts to mean something
    slices = list(SLICES)
    for d in generated["dists"]:
        slices.append(({"period": "2026-05", "distributor": d.code}, {"distributor": d.id}))
        slices.append(({"period": "2026Q1", "period_kind": "quarter", "distributor": d.code,
                        "product_line": "XC-L0"}, {"distributor": d.id, "line": "XC-L0"}))
    checked = 0
    for args, kw in slices:
        body = c.get("/api/v1/coverage/summary", query_string=args)
        assert body.status_code == 200, (args, body.json)
        got = {k: body.json["counts"][k] for k in ("targets", "bought", "target_weight", "bought_weight",
                                                   "new_terminals", "lost_terminals", "target_cities",
                                                   "cities_with_sales")}
        want = expected(frames, generated["territories"], months=_months(args), **kw)
        assert got == want, args
        checked += got["bought"] > 0
    assert checked >= 8  # most slices have buyers: the comparison is not of zeros
    # the drill-down lists exactly the target terminals pandas finds buying
    args = {"period": "2026-05", "product_line": "XC-L1", "region": "330100", "which": "with", "per_page": 500}
    body = c.get("/api/v1/coverage/terminals", query_string=args).json
    facts, terminals, targets, products = frames
    want = expected(frames, generated["territories"], months=[date(2026, 5, 1)], line="XC-L1", region="330100")
    assert body["total"] == want["bought"]
    codes = {t["code"] for t in body["items"]}
    ids = set(terminals[terminals.code.isin(codes)].id)
    net = facts[facts.product_id.isin(products[products.line == "XC-L1"].id) & (facts.month == date(2026, 5, 1))]
    net = net.groupby(["distributor_id", "terminal_id", "product_id"], as_index=False).quantity.sum()
    assert ids <= set(net[net.quantity > 0].terminal_id)


def _rollup_snapshot(db_session):
    return (sorted(db_session.execute(text("SELECT distributor_id, year, scope, scope_id, terminal_id, months "
                                           "FROM coverage_presence")).all()),
            sorted(db_session.execute(text("SELECT month, distributor_id, product_id, terminal_quantity, "
                                           "terminal_amount, transfer_quantity, transfer_amount, lines "
                                           "FROM coverage_sales")).all()))


def test_full_rebuild_equals_the_incremental_rollups_on_generated_data(generated, db_session):
    """The loads above kept the rollups incrementally (resubmissions, returns, two years); the full rebuild from
    the raw facts (COPY out, numpy, COPY in) must give the very same rows."""
    from distribution.rollups import rebuild_rollups

    incremental = _rollup_snapshot(db_session)
    assert len(incremental[0]) > 100 and len(incremental[1]) > 50
    assert any(r[4] < 0 for r in incremental[1]) and any(r[4] > 0 for r in incremental[1])  # amounts both ways
    assert {r[2] for r in incremental[0]} == {1, 2, 3} and {r[1] for r in incremental[0]} == {2025, 2026}
    result = rebuild_rollups()
    assert _rollup_snapshot(db_session) == incremental
    assert (result.presence_rows, result.sales_rows) == (len(incremental[0]), len(incremental[1]))
