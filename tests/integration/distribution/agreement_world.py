"""A small channel for agreement tests: two product lines, a distributor, staff users, and helpers that take an
agreement through its workflow the way the services do (each step as the acting user, for the audit log).

Use from a test module with a fixture of its own::

    @pytest.fixture
    def aw(request):
        return AgreementWorld.build(request)
"""

from __future__ import annotations

import contextlib
from datetime import date
from decimal import Decimal

from app.tenancy import acting_as, actor_for_user
from distribution import agreements as svc
from distribution.agreement_schemas import AgreementInSchema

START, END = date(2026, 1, 1), date(2026, 12, 31)
TIERS = [{"threshold_pct": "90", "rate_pct": "1"}, {"threshold_pct": "100", "rate_pct": "2"},
         {"threshold_pct": "110", "rate_pct": "3"}]


class AgreementWorld:
    def __init__(self, session, make_distributor, make_product, make_product_line, make_user, make_terminal):
        self.session = session
        self.make_distributor, self.make_product, self.make_user = make_distributor, make_product, make_user
        self.make_terminal = make_terminal
        self.line_a = make_product_line(code="AG-PLA", name="心血管")
        self.line_b = make_product_line(code="AG-PLB", name="消化")
        self.pa1 = make_product(code="AG-PA1", product_line=self.line_a)
        self.pa2 = make_product(code="AG-PA2", product_line=self.line_a)
        self.pb1 = make_product(code="AG-PB1", product_line=self.line_b)
        self.d = make_distributor(code="AGD-1", name="杭州协议医药有限公司", region_code="330100")
        self.cm1 = make_user("channel_manager", username="cm-one")
        self.cm2 = make_user("channel_manager", username="cm-two")
        self.admin = make_user("admin", username="agr-admin")

    @classmethod
    def build(cls, request) -> AgreementWorld:
        get = request.getfixturevalue
        return cls(get("db_session"), get("make_distributor"), get("make_product"), get("make_product_line"),
                   get("make_user"), get("make_terminal"))

    @staticmethod
    @contextlib.contextmanager
    def acting(user):
        with acting_as(actor_for_user(user)):
            yield user

    def data(self, **kw) -> dict:
        """Input for a draft as AgreementInSchema loads it (API body shape), with sensible defaults."""
        raw = {"distributor_code": self.d.code, "start_date": START.isoformat(), "end_date": END.isoformat(),
               "payment_terms_days": 60, "proposed_credit_limit": "500000.00", "deposit": "50000.00",
               "product_codes": [self.pa1.code], "product_line_codes": [], "region_codes": ["330000"],
               "terminal_codes": [], "rebate_tiers": TIERS,
               "targets": [{"quarter": "2026Q1", "product_code": self.pa1.code, "amount": "100000.00",
                            "quantity": 1000}]}
        for key in ("start_date", "end_date"):
            if isinstance(kw.get(key), date):
                kw[key] = kw[key].isoformat()
        raw.update(kw)
        return AgreementInSchema().load(raw)

    def draft(self, user=None, **kw):
        user = user or self.cm1
        with self.acting(user):
            return svc.create_draft(self.data(**kw), user)

    def submitted(self, **kw):
        agreement = self.draft(**kw)
        with self.acting(self.cm1):
            return svc.submit_agreement(agreement, self.cm1)

    def active(self, **kw):
        agreement = self.submitted(**kw)
        with self.acting(self.cm2):
            return svc.approve_agreement(agreement, self.cm2, "ok")


def money(text: str) -> Decimal:
    return Decimal(text)
