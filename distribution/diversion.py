"""Diversion (窜货) flags: reported sell-out lines that break the channel's rules, kept with their evidence.

Three kinds (:class:`distribution.models.coverage.DiversionKind`), each a plain rule over one sell-out line of a
current, loaded submission with a positive quantity to a terminal:

* ``unauthorised_product`` — no agreement of the reporting distributor in force on the line's date authorises the
  product (directly or through its line); "in force" as :func:`distribution.agreement_rules.in_force` says;
* ``outside_territory`` — an agreement authorises the product, but the terminal is neither one of its named
  terminals nor inside its territory (a region of the agreement, or a region within one);
* ``lot_region`` — the line names a lot we shipped (stock movements of kind ``shipment``), and the terminal's
  province is none of the provinces of the distributors we shipped that lot to, nor of their territories.

Flags are recomputed per submission when ingestion loads or supersedes one (:func:`refresh_flags`, called by
:func:`distribution.rollups.refresh_rollups`) and all together by the rebuild (:func:`rebuild_flags`), which also
picks up agreements and shipments that changed since. Plain SQL, set-based: what the agreements authorise and
where each shipped lot may be sold are derived tables the planner joins on equality (hash anti joins on
PostgreSQL), not lookups line by line.
"""

from __future__ import annotations

from sqlalchemy import text

from app.extensions import db
from distribution.models.coverage import DiversionKind

_CURRENT = ("JOIN submission s ON s.id = f.submission_id AND s.is_current AND s.status = 'loaded' "
            "AND s.kind = 'sell_out'")
_COLS = ("kind, distributor_id, submission_id, fact_id, source_row, business_date, month, product_id, terminal_id, "
         "region_id, lot_id, lot_no, quantity")


def _month(col: str) -> str:
    if db.session.get_bind().dialect.name == "postgresql":
        return f"CAST(date_trunc('month', {col}) AS DATE)"
    return f"date({col}, 'start of month')"


def _in_force(a: str, day: str) -> str:
    """SQL of :func:`distribution.agreement_rules.in_force` for agreement alias ``a`` on the date ``day``."""
    return (f"{a}.status IN ('active', 'expired', 'terminated') AND {a}.approved_at IS NOT NULL "
            f"AND {a}.start_date <= {day} AND {a}.end_date >= {day} "
            f"AND ({a}.status <> 'terminated' OR ({a}.terminated_on IS NOT NULL AND {day} < {a}.terminated_on))")


def _authorises_product(a: str) -> str:
    return (f"(EXISTS (SELECT 1 FROM agreement_product ap WHERE ap.agreement_id = {a}.id "
            f"AND ap.product_id = f.product_id) OR EXISTS (SELECT 1 FROM agreement_product_line al "
            f"WHERE al.agreement_id = {a}.id AND al.product_line_id = p.product_line_id))")


# What an agreement authorises, as rows to join on equality: products (``item`` the product id) and product lines
# (``item`` minus the line id), each with every region of its territory (``place`` the region id) or every named
# terminal (``place`` the terminal id). A line is sold within an agreement when a row has its distributor, its
# product or line, and its terminal or a region the terminal lies in (the region itself, its parent or province).
_AGREEMENT = ("SELECT a.distributor_id, a.status, a.approved_at, a.start_date, a.end_date, a.terminated_on, "
              "i.item, pl.place FROM agreement a "
              "JOIN (SELECT agreement_id, product_id AS item FROM agreement_product UNION ALL "
              "SELECT agreement_id, -product_line_id FROM agreement_product_line) i ON i.agreement_id = a.id "
              "JOIN (SELECT agreement_id, {place} AS place FROM {table}) pl ON pl.agreement_id = a.id "
              "WHERE a.approved_at IS NOT NULL AND a.status IN ('active', 'expired', 'terminated')")
_TERMINAL = ("agreement_terminal", "terminal_id", "o.place = f.terminal_id")
# "the terminal's region, its parent or its province" as one join filter (the whole rebuild: few territory regions
# per distributor and product, 9.0 s for 9.5M lines in bench/coverage.py against 12.1 s split) or as three
# equality anti joins (one submission: a national agreement of every province filtered 13.2M pairs for 875k lines
# of bench/ingest.py, 2.1 s against 0.7 s split)
_PLACES = {False: (("agreement_region", "region_id", "o.place IN (r.id, r.parent_id, r.province_id)"), _TERMINAL),
           True: (*(("agreement_region", "region_id", f"o.place = r.{c}") for c in ("id", "parent_id", "province_id")),
                  _TERMINAL)}


def _not_sold_within_agreement(split: bool) -> str:
    """SQL true when no agreement in force authorises the line's product and covers its terminal: one NOT EXISTS per
    product-or-line × region-or-terminal, each an anti join on equality the planner can hash (set-based: no lookup
    of the agreements line by line)."""
    checks = [f"NOT EXISTS (SELECT 1 FROM ({_AGREEMENT.format(table=table, place=place)}) o "
              f"WHERE o.distributor_id = f.distributor_id AND o.item = {item} AND {where} "
              f"AND {_in_force('o', 'f.business_date')})"
              for item in ("f.product_id", "-p.product_line_id") for table, place, where in _PLACES[split]]
    return " AND ".join(checks)


def _select(kind_expr: str, condition: str, where: str) -> str:
    return (f"INSERT INTO diversion_flag ({_COLS}) SELECT {kind_expr}, f.distributor_id, f.submission_id, f.id, "
            f"f.source_row, f.business_date, {_month('f.business_date')}, f.product_id, f.terminal_id, t.region_id, "
            f"f.lot_id, f.lot_no, f.quantity FROM sell_out_fact f {_CURRENT} "
            f"JOIN terminal t ON t.id = f.terminal_id JOIN region r ON r.id = t.region_id "
            f"JOIN product p ON p.id = f.product_id "
            f"WHERE f.terminal_id IS NOT NULL AND f.quantity > 0 {where} AND {condition}")


def _territory_sql(where: str, split: bool = False) -> str:
    product_ok = (f"EXISTS (SELECT 1 FROM agreement a WHERE a.distributor_id = f.distributor_id AND "
                  f"{_in_force('a', 'f.business_date')} AND {_authorises_product('a')})")
    kind = (f"CASE WHEN {product_ok} THEN '{DiversionKind.OUTSIDE_TERRITORY.value}' "
            f"ELSE '{DiversionKind.UNAUTHORISED_PRODUCT.value}' END")
    return _select(kind, _not_sold_within_agreement(split), where)


def _lot_sql(where: str) -> str:
    shipped = "SELECT 1 FROM stock_movement sm WHERE sm.lot_id = f.lot_id AND sm.kind = 'shipment'"
    # the provinces each shipped lot may be sold in: those of the distributors we shipped it to and of their
    # territories (one derived table the planner hashes, instead of two lookups per line)
    provinces = ("SELECT sm.lot_id, sr.province_id FROM stock_movement sm JOIN distributor sd "
                 "ON sd.id = sm.to_distributor_id JOIN region sr ON sr.id = sd.region_id WHERE sm.kind = 'shipment' "
                 "UNION ALL SELECT sm.lot_id, ter.province_id FROM stock_movement sm JOIN agreement a "
                 "ON a.distributor_id = sm.to_distributor_id AND a.approved_at IS NOT NULL JOIN agreement_region ar "
                 "ON ar.agreement_id = a.id JOIN region ter ON ter.id = ar.region_id WHERE sm.kind = 'shipment'")
    condition = (f"f.lot_id IS NOT NULL AND EXISTS ({shipped}) AND NOT EXISTS (SELECT 1 FROM ({provinces}) lp "
                 f"WHERE lp.lot_id = f.lot_id AND lp.province_id = r.province_id)")
    return _select(f"'{DiversionKind.LOT_REGION.value}'", condition, where)


def _flag(where: str, split: bool = False) -> int:
    count = 0
    for sql in (_territory_sql(where, split), _lot_sql(where)):
        count += db.session.execute(text(sql)).rowcount
    return count


def refresh_flags(added_submission_id: int | None, removed_submission_id: int | None) -> int:
    """Drop the flags of the submission that stopped counting, flag the lines of the one that started; returns how
    many flags were added."""
    for sid in {added_submission_id, removed_submission_id} - {None}:
        db.session.execute(text("DELETE FROM diversion_flag WHERE submission_id = :s"), {"s": int(sid)})
    if added_submission_id is None:
        return 0
    return _flag(f"AND f.submission_id = {int(added_submission_id)}", split=True)


def rebuild_flags() -> int:
    """Recompute every flag from the current facts, today's agreements and shipments; returns how many."""
    db.session.execute(text("DELETE FROM diversion_flag"))
    return _flag("")
