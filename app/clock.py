"""The business date and the business time zone. All "is it expired yet" questions use :func:`today`, so tests and
demos can pin the day; every moment shown to a person (pages, Excel, PDF) goes through :func:`local` / :func:`when`,
so it reads in the business time zone (``DRP_TIMEZONE``, Asia/Shanghai by default), not in UTC as stored."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context

DEFAULT_ZONE = "Asia/Shanghai"


def zone() -> ZoneInfo:
    """The business time zone."""
    name = current_app.config.get("BABEL_DEFAULT_TIMEZONE") if has_app_context() else None
    return ZoneInfo(name or DEFAULT_ZONE)


def today() -> date:
    if has_app_context():
        fixed = current_app.config.get("FIXED_TODAY")
        if fixed:
            return fixed if isinstance(fixed, date) else date.fromisoformat(str(fixed))
    return datetime.now(zone()).date()


def local(moment: datetime) -> datetime:
    """``moment`` in the business time zone. A naive moment is UTC: that is how they are stored (SQLite hands the
    stored UTC time back without its zone)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone())


def when(moment: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A moment as a person reads it (business time zone); "" for none."""
    return local(moment).strftime(fmt) if moment else ""
