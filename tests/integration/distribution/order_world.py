"""A small channel for the order tests: two authorised products with prices, one product with no agreement, a
distributor with an active agreement and a credit limit, a manufacturer warehouse with lots, and staff users.

Business date 2026-06-15 (tests/conftest.py TODAY). Hand-computable figures:

    OW-P1  pack 10 盒, tier-1 price 12.3456   (10 cases = 100 盒 → 1234.56)
    OW-P2  pack 20 支, tier-1 price 5.0000    (1 case = 20 支 → 100.00)
    OW-NA  pack 10, priced, but no agreement covers it
    credit limit 10000.00, payment terms 60 days
    lots of OW-P1 at the warehouse: L-EARLY 30 盒 exp 2026-09-01 (78 days), L-LATE 50 盒 exp 2027-12-31,
    L-SHORT 500 盒 exp 2026-07-01 (16 days: below tier-1's 30-day minimum shelf life, never shipped)

Use from a test module::

    @pytest.fixture
    def ow(request):
        return OrderWorld.build(request)
"""

from __future__ import annotations

import contextlib
from datetime import date
from decimal import Decimal

from sqlalchemy import select

from app.models import StockLocation
from app.tenancy import acting_as, actor_for_user

D = Decimal
START = date(2026, 1, 1)


class OrderWorld:
    def __init__(self, session, make_distributor, make_product, make_product_line, make_user):
        from credit import services as credit
        from distribution import agreements, price_lists
        from distribution.agreement_schemas import AgreementInSchema
        from inventory import services as inventory

        self.session, self.make_user, self.make_distributor = session, make_user, make_distributor
        pl = make_product_line(code="OW-PL")
        self.p1 = make_product(code="OW-P1", pack_size=10, base_unit="盒", product_line=pl, min_shelf_days_tier1=30)
        self.p2 = make_product(code="OW-P2", pack_size=20, base_unit="支", product_line=pl)
        self.na = make_product(code="OW-NA", pack_size=10, base_unit="盒")
        self.d = make_distributor(code="OW-D1", name="杭州订单医药有限公司", region_code="330100")
        self.cm = make_user("channel_manager", username="ow-cm")
        self.cm2 = make_user("channel_manager", username="ow-cm2")
        self.finance = make_user("finance", username="ow-fin")
        self.user = make_user("distributor", self.d, username="ow-dist")
        tier1 = price_lists.save_price_list({"code": "OW-T1", "name": "一级供货价", "kind": "tier1_supply"})
        price_lists.add_item(tier1, self.p1, 1, "base", D("12.3456"), START)
        price_lists.add_item(tier1, self.p2, 1, "base", D("5.0000"), START)
        price_lists.add_item(tier1, self.na, 1, "base", D("1.0000"), START)
        self.agreement = self.agree(self.d, ["OW-P1", "OW-P2"])
        self.credit = credit
        credit.set_credit_terms(self.d, limit=D("10000.00"), payment_terms_days=60, reason="年度授信",
                                user=self.finance)
        self.wh = StockLocation(code="OW-WH", name="总仓", kind="manufacturer")
        session.add(self.wh)
        session.flush()
        self.dest = session.execute(select(StockLocation).where(StockLocation.distributor_id == self.d.id)
                                    ).scalar_one()
        self.lots = {}
        for lot_no, exp, qty in (("L-EARLY", date(2026, 9, 1), 30), ("L-LATE", date(2027, 12, 31), 50),
                                 ("L-SHORT", date(2026, 7, 1), 500)):
            lot = inventory.register_lot(self.p1, lot_no, date(2025, 1, 1), exp)
            inventory.post_movement("receipt", lot, qty, to_location=self.wh, reference=f"rcv-{lot_no}")
            self.lots[lot_no] = lot
        self._agreements, self._schema = agreements, AgreementInSchema

    def agree(self, distributor, product_codes):
        from distribution import agreements
        from distribution.agreement_schemas import AgreementInSchema

        data = AgreementInSchema().load({
            "distributor_code": distributor.code, "start_date": "2026-01-01", "end_date": "2026-12-31",
            "payment_terms_days": 60, "proposed_credit_limit": "10000.00", "product_codes": product_codes,
            "region_codes": ["330000"], "targets": [{"quarter": "2026Q2", "product_code": product_codes[0],
                                                     "amount": "1000.00", "quantity": 100}],
            "rebate_tiers": [{"threshold_pct": "90", "rate_pct": "1"}]})
        a = agreements.create_draft(data, self.cm)
        agreements.submit_agreement(a, self.cm)
        agreements.approve_agreement(a, self.cm2)
        return a

    @classmethod
    def build(cls, request) -> OrderWorld:
        get = request.getfixturevalue
        return cls(get("db_session"), get("make_distributor"), get("make_product"), get("make_product_line"),
                   get("make_user"))

    @staticmethod
    @contextlib.contextmanager
    def acting(user):
        with acting_as(actor_for_user(user)):
            yield user

    def place(self, lines, user=None, distributor=None, **kw):
        from distribution import orders

        user = user or self.cm
        with self.acting(user):
            return orders.place_order(distributor or self.d, lines, user, **kw)

    def exposure(self):
        return self.credit.exposure(self.d)
