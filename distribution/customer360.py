"""The distributor 360° page (360度客户视图): one distributor brought together from every package, as a list of
sections.

A :class:`Section` names its title, the template partial that draws it, a loader that gathers its data (calling the
owning package's services only) and the roles that see it. :data:`SECTIONS` is the page, in order;
:func:`register_section` adds one (``after`` a named section) — the returns section of the returns work is added
this way at integration, nothing here knows about it. Each section may also give an Excel sheet (``sheet``), so the
page's tables export together.

A distributor user sees its own page (the distributor comes from a tenant-scoped lookup, so another's is a 404) with
every section but the diversion flags, which are the manufacturer's own follow-up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from app import clock
from app.extensions import db
from app.models import Distributor

STAFF = ("admin", "channel_manager", "finance", "viewer")
ALL = (*STAFF, "distributor")


@dataclass
class Context:
    distributor: Distributor
    today: date
    month: date  # the last complete month (coverage, flags)
    role: str


@dataclass(frozen=True)
class Section:
    key: str
    title: object  # a lazy string
    template: str
    load: Callable[[Context], dict]
    roles: tuple[str, ...] = ALL
    sheet: Callable[[dict], tuple[list[str], list[list]]] | None = None  # (headers, rows) for the Excel export
    wide: bool = False  # a table too wide for half the page: the section takes the whole row


SECTIONS: list[Section] = []


def register_section(section: Section, after: str | None = None) -> Section:
    """Add ``section`` to the page (after the section keyed ``after``, else at the end); a key registered again
    replaces the earlier one in place."""
    for i, s in enumerate(SECTIONS):
        if s.key == section.key:
            SECTIONS[i] = section
            return section
    keys = [s.key for s in SECTIONS]
    SECTIONS.insert(keys.index(after) + 1 if after in keys else len(SECTIONS), section)
    return section


def get_distributor(distributor_id: int) -> Distributor | None:
    """The distributor if the acting user may see it (tenant scoping applies), else None."""
    return db.session.get(Distributor, distributor_id)


def context(distributor: Distributor, role: str) -> Context:
    from distribution.metrics import add_months

    today = clock.today()
    return Context(distributor, today, add_months(today.replace(day=1), -1), role)


@dataclass
class Rendered:
    section: Section
    data: dict = field(default_factory=dict)


def sections_for(ctx: Context) -> list[Rendered]:
    """The sections the acting user sees, loaded."""
    return [Rendered(s, s.load(ctx)) for s in SECTIONS if ctx.role in s.roles]


# -- the sections -------------------------------------------------------------------------------------------------
def _agreements(ctx: Context) -> dict:
    from distribution.agreements import agreement_achievement, status_label
    from distribution.models.agreements import Agreement

    rows = db.session.execute(
        select(Agreement).where(Agreement.distributor_id == ctx.distributor.id,
                                Agreement.end_date >= date(ctx.today.year - 1, 1, 1))
        .order_by(Agreement.start_date.desc())).scalars().all()
    return {"items": [(a, status_label(a.status), agreement_achievement(a) if a.approved_at else None)
                      for a in rows]}


def _agreements_sheet(data: dict):
    rows = []
    for a, status, report in data["items"]:
        for r in (report.rows + [report.total]) if report else []:
            rows.append([a.number, status, str(r.quarter) if r.quarter else _("Total"), r.target_amount,
                         r.sell_in_amount, r.amount_pct, r.rebate_amount])
    return [_("Agreement"), _("Status"), _("Quarter"), _("Target amount"), _("Sell-in amount"),
            _("Amount achieved"), _("Rebate")], rows


def _prices(ctx: Context) -> dict:
    from distribution import price_lists

    return {"items": price_lists.my_prices(ctx.distributor, ctx.today), "svc": price_lists}


def _prices_sheet(data: dict):
    rows = [[mp.product.code, mp.product.display_name, q, r.unit_price, data["svc"].rule_label(r.rule)]
            for mp in data["items"] for q, r in mp.breaks]
    return [_("Product code"), _("Product"), _("From quantity"), _("Unit price"), _("Rule")], rows


def _orders_credit(ctx: Context) -> dict:
    from credit import services as credit
    from distribution.orders import list_orders, status_label

    orders = db.session.execute(list_orders(ctx.distributor.code).limit(10)).scalars().all()
    return {"orders": orders, "status_label": status_label, "exposure": credit.exposure(ctx.distributor)}


def _orders_sheet(data: dict):
    return [_("Order"), _("Date"), _("Status"), _("Total")], [
        [o.number, o.on_date, data["status_label"](o.status), o.total] for o in data["orders"]]


def aging_label(key: str) -> str:
    return {"current": _("Not yet due"), "1-30": _("1–30 days"), "31-60": _("31–60 days"), "61-90": _("61–90 days"),
            "90+": _("Over 90 days")}.get(key, key)


def _receivables(ctx: Context) -> dict:
    from credit import services as credit

    return {"aging": credit.aging(ctx.distributor), "items": credit.open_items(ctx.distributor)[:15],
            "label": aging_label}


def _receivables_sheet(data: dict):
    return [_("Reference"), _("Date"), _("Due date"), _("Open amount"), _("Days overdue")], [
        [i.reference, i.entry_date, i.due_date, i.open_amount, i.days_overdue] for i in data["items"]]


def _stock(ctx: Context) -> dict:
    from inventory.channel import ChannelFilters, channel_lots, channel_matrix

    f = ChannelFilters(distributor=ctx.distributor.code)
    matrix = channel_matrix(f)
    doi = {p.code: matrix.cell(ctx.distributor.id, p.id) for p in matrix.products}
    return {"lots": channel_lots(f), "doi": doi, "window": matrix.window}


def _stock_sheet(data: dict):
    rows = []
    for ln in data["lots"]:
        cell = data["doi"].get(ln.product_code)
        rows.append([ln.product_code, ln.product_name, ln.lot_no, ln.expires_on, ln.computed, ln.reported,
                     cell.doi if cell else None])
    return [_("Product code"), _("Product"), _("Lot"), _("Expiry"), _("On hand"), _("Reported"),
            _("Days of inventory")], rows


def _submissions(ctx: Context) -> dict:
    from ingestion import pipeline
    from ingestion.models import Submission

    items = db.session.execute(select(Submission).where(Submission.distributor_id == ctx.distributor.id)
                               .order_by(Submission.period_start.desc(), Submission.id.desc()).limit(24)
                               ).scalars().all()
    return {"items": items, "kind_label": pipeline.kind_label, "status_label": pipeline.status_label}


def rejected_pct(s) -> str:
    return "—" if not s.rows_read else f"{s.rows_rejected * 100 / s.rows_read:.1f}%"


def _submissions_sheet(data: dict):
    return [_("Kind"), _("Period"), _("Version"), _("Status"), _("File"), _("Rows read"), _("Accepted"),
            _("Rejected"), _("For review")], [
        [data["kind_label"](s.kind), f"{s.period_start}…{s.period_end}", s.version, data["status_label"](s.status),
         s.filename, s.rows_read, s.rows_accepted, s.rows_rejected, s.rows_review] for s in data["items"]]


def _coverage(ctx: Context) -> dict:
    from app.models import ProductLine
    from distribution import coverage
    from distribution.metrics import Period, add_months

    period = Period("month", ctx.month)
    lines = []
    for line in db.session.execute(select(ProductLine).order_by(ProductLine.code)).scalars():
        n = coverage.slice_numbers(coverage.Scope(period, product_line_id=line.id,
                                                  distributor_id=ctx.distributor.id))
        if n.targets or n.bought:
            lines.append((line, n))
    months = [add_months(ctx.month, -i) for i in range(11, -1, -1)]
    return {"period": period, "all": coverage.slice_numbers(coverage.Scope(period, distributor_id=ctx.distributor.id)),
            "lines": lines, "sales": coverage.sales_by_month(ctx.distributor.id, months)}


def _coverage_sheet(data: dict):
    from distribution.coverage_reports import pct

    rows = [[_("All products"), data["all"].targets, data["all"].bought, pct(data["all"].listing_rate),
             pct(data["all"].city_coverage)]]
    rows += [[f"{line.code} {line.name}", n.targets, n.bought, pct(n.listing_rate), pct(n.city_coverage)]
             for line, n in data["lines"]]
    return [_("Product line"), _("Target terminals in territory"), _("Bought"), _("Listing rate"),
            _("City coverage")], rows


def _diversion(ctx: Context) -> dict:
    from distribution import coverage
    from distribution.metrics import add_months

    months = [add_months(ctx.month, -i) for i in range(11, -1, -1)]
    return {"counts": coverage.flag_counts(ctx.distributor.id, months), "kind_label": coverage.kind_label,
            "since": months[0]}


def _diversion_sheet(data: dict):
    return [_("Kind"), _("Flags (12 months)")], [[data["kind_label"](k), n] for k, n in data["counts"].items()]


for _section in (
    Section("agreements", _l("Agreements and target achievement"), "distribution/c360/agreements.html", _agreements,
            sheet=_agreements_sheet),
    Section("prices", _l("Prices in force"), "distribution/c360/prices.html", _prices, sheet=_prices_sheet),
    Section("orders", _l("Orders and credit position"), "distribution/c360/orders.html", _orders_credit,
            sheet=_orders_sheet),
    Section("receivables", _l("Receivables"), "distribution/c360/receivables.html", _receivables,
            sheet=_receivables_sheet),
    Section("stock", _l("Stock and days of inventory by lot"), "distribution/c360/stock.html", _stock,
            sheet=_stock_sheet, wide=True),
    Section("submissions", _l("Channel data submissions and their quality"), "distribution/c360/submissions.html",
            _submissions, sheet=_submissions_sheet, wide=True),
    Section("coverage", _l("Coverage of its territory"), "distribution/c360/coverage.html", _coverage,
            sheet=_coverage_sheet),
    Section("diversion", _l("Diversion flags"), "distribution/c360/diversion.html", _diversion, roles=STAFF,
            sheet=_diversion_sheet),
):
    register_section(_section)
