"""The business date. All "is it expired yet" questions use this, so tests and demos can pin the day."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context


def today() -> date:
    if has_app_context():
        fixed = current_app.config.get("FIXED_TODAY")
        if fixed:
            return fixed if isinstance(fixed, date) else date.fromisoformat(str(fixed))
        tz = current_app.config.get("BABEL_DEFAULT_TIMEZONE", "Asia/Shanghai")
    else:
        tz = "Asia/Shanghai"
    return datetime.now(ZoneInfo(tz)).date()
