"""The monthly channel report (月度渠道报告): generated as a PDF on schedule (the first of each month, for the month
before: ``distribution.tasks.monthly_channel_report``) and on demand, kept in :class:`ChannelReport` for whoever opens
it later; channel managers are notified when the scheduled one is ready. Services flush, never commit."""

from __future__ import annotations

from datetime import date

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select

from app import clock
from app.extensions import db
from app.models import Notification
from app.tenancy import Actor, acting_as
from distribution.coverage import FilterInvalid
from distribution.metrics import add_months
from distribution.models.coverage import ChannelReport


def parse_month(text: str | None) -> date:
    """``2026-05`` → 2026-05-01. Raises FilterInvalid (in the user's language)."""
    try:
        year, month = (int(x) for x in (text or "").strip().split("-"))
        return date(year, month, 1)
    except ValueError as exc:
        raise FilterInvalid(_("Give the month as 2026-05."), {"month": [_("Give the month as 2026-05.")]}) from exc


def generate_report(month, by: str, locale: str = "zh") -> ChannelReport:
    """Build the PDF of the calendar month ``month`` (a date or "2026-05") from the rollups and keep it. Raises
    FilterInvalid for a month that cannot be read or has not begun."""
    from distribution.coverage_reports import channel_report_pdf, report_data

    month = month if isinstance(month, date) else parse_month(month)
    if month > clock.today().replace(day=1):
        raise FilterInvalid(_("The month %(month)s has not begun.", month=f"{month:%Y-%m}"))
    with acting_as(Actor(None, by)), force_locale(locale):
        pdf = channel_report_pdf(report_data(month), locale)
    report = ChannelReport(month=month, generated_by=by, pdf=pdf, size=len(pdf))
    db.session.add(report)
    db.session.flush()
    return report


def scheduled_report() -> int:
    """The scheduler's job: the report of last month, once (a second run the same month adds nothing); channel
    managers are notified. Returns the report id."""
    month = add_months(clock.today().replace(day=1), -1)
    existing = db.session.execute(select(ChannelReport.id).where(ChannelReport.month == month,
                                                                 ChannelReport.generated_by == "scheduler")
                                  ).scalar()
    if existing:
        return existing
    report = generate_report(month, "scheduler")
    with force_locale("zh"):
        db.session.add(Notification(audience_role="channel_manager", kind="channel_report",
                                    dedupe_key=f"channel_report:{month:%Y-%m}",
                                    title=_("Monthly channel report %(month)s", month=f"{month:%Y-%m}"),
                                    link=f"/distribution/coverage/reports/{report.id}.pdf"))
    db.session.flush()
    return report.id


def list_reports() -> list[ChannelReport]:
    return db.session.execute(select(ChannelReport).order_by(ChannelReport.month.desc(),
                                                             ChannelReport.id.desc())).scalars().all()


def get_report(report_id: int) -> ChannelReport | None:
    return db.session.get(ChannelReport, report_id)
