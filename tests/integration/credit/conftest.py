"""Credit fixtures: a distributor with a 100,000.00 limit, 30 days' terms and 5 grace days (business date
2026-06-15)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from credit import services


@pytest.fixture
def dist(db_session, make_distributor):
    d = make_distributor(code="CR-D1", name="信用测试医药")
    services.set_credit_terms(d, limit=Decimal("100000"), payment_terms_days=30, grace_days=5, reason="年度授信")
    return d
