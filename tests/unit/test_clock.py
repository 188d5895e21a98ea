"""Moments shown to people read in the business time zone (app.clock.local / when)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from flask import Flask

from app import clock


def test_naive_moments_are_utc_and_shown_in_the_business_zone():
    app = Flask(__name__)
    app.config["BABEL_DEFAULT_TIMEZONE"] = "Asia/Shanghai"
    with app.app_context():
        assert clock.when(datetime(2026, 11, 30, 16, 30)) == "2026-12-01 00:30"  # SQLite: naive, stored as UTC
        assert clock.when(datetime(2026, 11, 30, 16, 30, tzinfo=UTC)) == "2026-12-01 00:30"
        assert clock.when(datetime(2026, 12, 1, 1, 30, tzinfo=timezone(timedelta(hours=9)))) == "2026-12-01 00:30"
        assert clock.when(datetime(2026, 11, 30, 16, 30), "%Y-%m-%d") == "2026-12-01"
        assert clock.when(None) == ""
        assert clock.local(datetime(2026, 6, 1, 0, 0)).utcoffset() == timedelta(hours=8)
    app.config["BABEL_DEFAULT_TIMEZONE"] = "Europe/Berlin"
    with app.app_context():
        assert clock.when(datetime(2026, 11, 30, 16, 30, tzinfo=UTC)) == "2026-11-30 17:30"
        assert clock.when(datetime(2026, 7, 30, 16, 30, tzinfo=UTC)) == "2026-07-30 18:30"  # summer time
