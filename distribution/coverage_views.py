"""Pages of the coverage analytics (routes on `distribution.bp`): the dashboard with trend charts and the region
breakdown, the drill-down to target terminals with and without the product, sell-in vs sell-out, purchase-target
achievement, diversion flags, the monthly channel reports, and the distributor 360° page. Every table exports to
Excel. Thin: parse the filters, call one service, render.

The manufacturer's staff see everything; a distributor user sees its own 360° page only (its coverage is a section
of it, as aggregates: see :mod:`distribution.coverage`).
"""

from __future__ import annotations

from datetime import date

from flask import abort, flash, make_response, redirect, render_template, request, send_file, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from app import charts, clock
from app.auth.security import roles_required
from app.downloads import xlsx_response
from app.extensions import db
from app.models import HOSPITAL_GRADES, ProductLine, Region
from distribution import bp, channel_reports, coverage, customer360, metrics, rollups
from distribution import coverage_reports as reports
from distribution.coverage import CoverageError, Filters

STAFF = ("admin", "channel_manager", "finance", "viewer")
WRITERS = ("admin", "channel_manager")
PER_PAGE = 50
KPI_KEYS = ("listing_rate", "listing_rate_rolling", "weighted_distribution", "coverage", "city_coverage",
            "new_terminals", "lost_terminals", "sell_through")


def _locale() -> str:
    return str(get_locale() or "zh")


def _helpers(f: Filters) -> dict:
    return {"f": f, "define": lambda key: metrics.definition(key, _locale()), "pct": reports.pct,
            "kind_label": coverage.kind_label, "type_label": coverage.type_label, "grades": HOSPITAL_GRADES,
            "lines": db.session.execute(select(ProductLine).order_by(ProductLine.code)).scalars().all(),
            "provinces": db.session.execute(select(Region).where(Region.level == 1).order_by(Region.code)
                                            ).scalars().all(), "max_window": metrics.MAX_WINDOW}


def _scope(f: Filters):
    """The scope, or a 400 page naming the bad filters."""
    try:
        return f.scope()
    except CoverageError as exc:
        abort(make_response(render_template("distribution/coverage_error.html", error=exc, **_helpers(f)), 400))


def _region_path(region_id: int | None) -> list[Region]:
    out, node = [], db.session.get(Region, region_id) if region_id else None
    while node is not None:
        out.append(node)
        node = node.parent
    return list(reversed(out))


def _xlsx(sheets, name: str):
    return xlsx_response(reports.workbook(sheets), name)


# -- dashboard ----------------------------------------------------------------------------------------------------
def _dashboard_data(f: Filters, scope):
    numbers = coverage.slice_numbers(scope)
    points = coverage.trend(scope)
    regions = coverage.breakdown(scope)
    return numbers, points, regions


@bp.get("/coverage/")
@roles_required(*STAFF)
def coverage_dashboard():
    f = Filters.parse(request.args)
    scope = _scope(f)
    numbers, points, regions = _dashboard_data(f, scope)
    labels = [f"{p.month:%y-%m}" for p in points]
    trend_chart = charts.line_chart(labels, [
        (_("Listing rate"), [p.listing_rate for p in points]), (_("Weighted distribution"),
                                                                [p.weighted_distribution for p in points]),
        (_("Coverage"), [p.coverage for p in points])], title=_("Listing rate and coverage, 12 months"), unit="%",
        max_value=100)
    flow_chart = charts.line_chart(labels, [(_("New terminals"), [p.new_terminals for p in points]),
                                            (_("Lost terminals"), [p.lost_terminals for p in points])],
                                   title=_("New and lost terminals, month over month"))
    child = coverage.child_level(scope)
    bars = charts.bar_chart(
        [(r.name, r.listing_rate, url_for(".coverage_dashboard", **f.args(region=r.code)) if child and child < 3
          else url_for(".coverage_terminals", **f.args(region=r.code))) for r in regions],
        title=_("Listing rate by region"), unit="%", label_width=120, value_format=reports.rate_text)
    return render_template("distribution/coverage_dashboard.html", scope=scope, numbers=numbers,
                           kpis=reports.kpis(numbers, scope.period.window), points=points, regions=regions,
                           trend_chart=trend_chart, flow_chart=flow_chart, bars=bars, child_level=child,
                           region_path=_region_path(scope.region_id), kpi_keys=KPI_KEYS,
                           refreshing=rollups.pending_count(), **_helpers(f))


@bp.get("/coverage/export.xlsx")
@roles_required(*STAFF)
def coverage_export():
    f = Filters.parse(request.args)
    scope = _scope(f)
    numbers, points, regions = _dashboard_data(f, scope)
    return _xlsx([(_("Numbers"), [_("Number"), _("Value"), _("Detail")],
                   [[label, value, detail] for _k, label, value, detail in reports.kpis(numbers, scope.period.window)]),
                  (_("Trend"), reports.trend_headers(), reports.trend_cells(points)),
                  (_("By region"), reports.breakdown_headers(), reports.breakdown_cells(regions)),
                  reports.definitions_sheet(KPI_KEYS, _locale())], f"coverage-{scope.period.label}.xlsx")


# -- drill-down: target terminals with and without the product ---------------------------------------------------
@bp.get("/coverage/terminals")
@roles_required(*STAFF)
def coverage_terminals():
    f = Filters.parse(request.args)
    scope = _scope(f)
    which = request.args.get("which") if request.args.get("which") in ("with", "without") else "all"
    page = max(request.args.get("page", 1, type=int), 1)
    rows, total = coverage.terminals(scope, which, page, PER_PAGE)
    return render_template("distribution/coverage_terminals.html", scope=scope, rows=rows, total=total, page=page,
                           pages=max((total + PER_PAGE - 1) // PER_PAGE, 1), which=which,
                           region_path=_region_path(scope.region_id), **_helpers(f))


@bp.get("/coverage/terminals.xlsx")
@roles_required(*STAFF)
def coverage_terminals_export():
    f = Filters.parse(request.args)
    scope = _scope(f)
    which = request.args.get("which") if request.args.get("which") in ("with", "without") else "all"
    rows, _total = coverage.terminals(scope, which, per_page=None)
    return _xlsx([(_("Target terminals"), reports.terminal_headers(), reports.terminal_cells(rows)),
                  reports.definitions_sheet(("listing_rate",), _locale())], f"target-terminals-{which}.xlsx")


# -- sell-in vs sell-out, achievement, diversion ---------------------------------------------------------------------
@bp.get("/coverage/sell-through")
@roles_required(*STAFF)
def coverage_sell_through():
    f = Filters.parse(request.args)
    scope = _scope(f)
    return render_template("distribution/coverage_sell_through.html", scope=scope,
                           rows=coverage.sell_in_vs_sell_out(scope), **_helpers(f))


@bp.get("/coverage/sell-through.xlsx")
@roles_required(*STAFF)
def coverage_sell_through_export():
    f = Filters.parse(request.args)
    rows = coverage.sell_in_vs_sell_out(_scope(f))
    return _xlsx([(_("Sell-in vs sell-out"), reports.sell_through_headers(), reports.sell_through_cells(rows)),
                  reports.definitions_sheet(("sell_in", "sell_out", "sell_out_ratio"), _locale())],
                 "sell-in-vs-sell-out.xlsx")


@bp.get("/coverage/achievement")
@roles_required(*STAFF)
def coverage_achievement():
    f = Filters.parse(request.args)
    scope = _scope(f)
    return render_template("distribution/coverage_achievement.html", scope=scope,
                           agreements=coverage.achievements(scope), **_helpers(f))


@bp.get("/coverage/achievement.xlsx")
@roles_required(*STAFF)
def coverage_achievement_export():
    f = Filters.parse(request.args)
    lines = coverage.achievements(_scope(f))
    return _xlsx([(_("Target achievement"), reports.achievement_headers(), reports.achievement_cells(lines)),
                  reports.definitions_sheet(("achievement",), _locale())], "target-achievement.xlsx")


DIVERSION_KEYS = ("outside_territory", "unauthorised_product", "lot_region")


@bp.get("/coverage/diversion")
@roles_required(*STAFF)
def coverage_diversion():
    f = Filters.parse(request.args)
    scope = _scope(f)
    kind = request.args.get("kind") or None
    page = max(request.args.get("page", 1, type=int), 1)
    rows, total = coverage.diversion_flags(scope, kind, page, PER_PAGE)
    return render_template("distribution/coverage_diversion.html", scope=scope, rows=rows, total=total, page=page,
                           pages=max((total + PER_PAGE - 1) // PER_PAGE, 1), kind=kind, kinds=DIVERSION_KEYS,
                           **_helpers(f))


@bp.get("/coverage/diversion.xlsx")
@roles_required(*STAFF)
def coverage_diversion_export():
    f = Filters.parse(request.args)
    rows, _total = coverage.diversion_flags(_scope(f), request.args.get("kind") or None, per_page=None)
    return _xlsx([(_("Diversion flags"), reports.diversion_headers(), reports.diversion_cells(rows)),
                  reports.definitions_sheet(DIVERSION_KEYS, _locale())], "diversion-flags.xlsx")


# -- monthly channel reports -----------------------------------------------------------------------------------------
@bp.get("/coverage/reports")
@roles_required(*STAFF)
def channel_report_list():
    default = metrics.add_months(clock.today().replace(day=1), -1)
    return render_template("distribution/channel_reports.html", items=channel_reports.list_reports(),
                           default_month=f"{default:%Y-%m}", can_write=current_user.role in WRITERS,
                           **_helpers(Filters()))


@bp.post("/coverage/reports")
@roles_required(*WRITERS)
def channel_report_generate():
    try:
        report = channel_reports.generate_report(request.form.get("month"), current_user.username, _locale())
    except CoverageError as exc:
        db.session.rollback()
        flash(exc.message, "danger")
        return redirect(url_for(".channel_report_list"))
    db.session.commit()
    flash(_("The channel report of %(month)s is ready.", month=f"{report.month:%Y-%m}"), "success")
    return redirect(url_for(".channel_report_list"))


@bp.get("/coverage/reports/<int:report_id>.pdf")
@roles_required(*STAFF)
def channel_report_pdf(report_id):
    import io

    report = channel_reports.get_report(report_id) or abort(404)
    return send_file(io.BytesIO(report.pdf), mimetype="application/pdf", as_attachment=False,
                     download_name=f"channel-report-{report.month:%Y-%m}.pdf")


# -- the distributor 360° page ---------------------------------------------------------------------------------------
def _360(distributor_id: int):
    d = customer360.get_distributor(distributor_id) or abort(404)
    return customer360.sections_for(customer360.context(d, current_user.role))


@bp.get("/distributors/<int:distributor_id>/360")
@roles_required(*STAFF, "distributor")
def distributor_360(distributor_id):
    sections = _360(distributor_id)
    d = customer360.get_distributor(distributor_id)
    return render_template("distribution/distributor_360.html", d=d, sections=sections, today=clock.today(),
                           rejected_pct=customer360.rejected_pct, **_helpers(Filters(distributor=d.code)))


@bp.get("/distributors/<int:distributor_id>/360.xlsx")
@roles_required(*STAFF, "distributor")
def distributor_360_export(distributor_id):
    sections = _360(distributor_id)
    d = customer360.get_distributor(distributor_id)
    sheets = [(str(r.section.title), *r.section.sheet(r.data)) for r in sections if r.section.sheet]
    return _xlsx(sheets, f"{d.code}-360.xlsx")


@bp.get("/my-360")
@roles_required("distributor")
def my_360():
    return redirect(url_for(".distributor_360", distributor_id=current_user.distributor_id))


def month_label(day: date) -> str:
    return f"{day:%Y-%m}"
