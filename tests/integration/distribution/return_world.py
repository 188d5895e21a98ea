"""The order world (order_world.py) with real sell-in for the return tests: two shipments of lot L-LATE to OW-D1 at
different invoice prices, a quarantine location, and a tier-2 distributor under OW-D1 holding some by transfer.

Business date 2026-06-15. Hand-computable figures:

    order 1, placed and shipped 2026-06-02 at the tier-1 price 12.3456: 4 cases of OW-P1 = 40 盒
             FEFO → L-EARLY 30 (exp 2026-09-01) + L-LATE 10 → invoice 370.37 + 123.46 = 493.83
             (L-SHORT has 29 days left then, below tier 1's 30: skipped)
    order 2, placed and shipped 2026-06-10 at OW-D1's own price 11.0000 (from 06-05): 2 cases = 20 盒
             → L-LATE 20 → 220.00
    shipped to OW-D1: L-EARLY 30 @ 12.3456; L-LATE 10 @ 12.3456 (06-02) and 20 @ 11.0000 (06-10)
    receivable 713.83; exposure (limit 10000.00) open 713.83
    OW-D1 transferred 5 of L-EARLY to its tier-2 OW-D2 (as reported): OW-D1 holds L-EARLY 25, L-LATE 30

    returning 25 of L-LATE, latest shipments first: 20 × 11.0000 + 5 × 12.3456 = 220.00 + 61.73 = 281.73
"""

from __future__ import annotations

import base64
from datetime import date
from decimal import Decimal

from sqlalchemy import func, select

from app.models import StockLocation
from tests.integration.distribution.order_world import OrderWorld

D = Decimal
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"photo of a crushed case" * 4
PDF = b"%PDF-1.4\n% a quality report\n"


class ReturnWorld(OrderWorld):
    def __init__(self, *args):
        super().__init__(*args)
        from distribution import orders, price_lists
        from inventory import services as inventory

        self.q = StockLocation(code="OW-Q", name="退货隔离库", kind="quarantine")
        self.session.add(self.q)
        self.session.flush()
        self.order1 = self.place([{"product_code": "OW-P1", "quantity": 4, "unit": "case"}], on_date=date(2026, 6, 2))
        with self.acting(self.cm):
            self.ship1 = orders.ship_order(self.order1, self.cm, on_date=date(2026, 6, 2))
        own = price_lists.save_price_list({"code": "OW-SP", "name": "专供价", "kind": "distributor_specific",
                                           "distributor_code": "OW-D1"})
        price_lists.add_item(own, self.p1, 1, "base", D("11.0000"), date(2026, 6, 5))
        self.order2 = self.place([{"product_code": "OW-P1", "quantity": 2, "unit": "case"}], on_date=date(2026, 6, 10))
        with self.acting(self.cm):
            self.ship2 = orders.ship_order(self.order2, self.cm, on_date=date(2026, 6, 10))
        self.d2 = self.make_distributor(code="OW-D2", name="杭州二级医药", tier=2, parent_code="OW-D1",
                                        region_code="330100")
        self.dest2 = self.session.execute(select(StockLocation).where(StockLocation.distributor_id == self.d2.id)
                                          ).scalar_one()
        inventory.post_movement("transfer", self.lots["L-EARLY"], 5, from_location=self.dest, to_location=self.dest2,
                                on_date=date(2026, 6, 12), reference="流向-调拨")
        self.qa = self.cm
        self.user2 = self.make_user("distributor", self.d2, username="ow-dist2")

    # -- helpers --------------------------------------------------------------------------------------------------
    def request(self, lines, user=None, distributor=None, **kw):
        from distribution import returns

        user = user or self.user
        with self.acting(user):
            return returns.request_return(distributor or self.d, lines, user, **kw)

    def line(self, lot="L-LATE", qty=25, reason="overstock", **kw):
        return {"product_code": kw.pop("product_code", "OW-P1"), "lot_no": lot, "quantity": qty, "reason": reason,
                **kw}

    def decide(self, ret, approve=True, reason="同意退货", user=None):
        from distribution import returns

        with self.acting(user or self.cm):
            return returns.decide_return(ret, approve, user or self.cm, reason)

    def receive(self, ret, quantities=None):
        from distribution import returns

        with self.acting(self.cm):
            return returns.receive_return(ret, self.cm, quantities)

    def dispose(self, ret, choice="restock"):
        from distribution import returns

        with self.acting(self.qa):
            return returns.dispose_return(ret, self.qa, {ln.id: choice for ln in ret.lines})

    def credit_it(self, ret):
        from distribution import returns

        with self.acting(self.finance):
            return returns.issue_credit(ret, self.finance)

    def through(self, ret, choice="restock"):
        """approve → receive everything → dispose every line as ``choice`` → credit."""
        return self.credit_it(self.dispose(self.receive(self.decide(ret)), choice))

    def balance_at(self, location, lot="L-LATE") -> int:
        from inventory.models import StockBalance

        return self.session.execute(select(func.coalesce(func.sum(StockBalance.quantity), 0)).where(
            StockBalance.location_id == location.id, StockBalance.lot_id == self.lots[lot].id)).scalar_one()

    def receivable(self):
        return self.credit.balance(self.d)

    def counts(self) -> dict:
        """Rows of every table a refused request must leave alone."""
        from credit.models import ReceivableEntry
        from distribution.models.returns import ReturnAttachment, ReturnEvent, ReturnFile, ReturnLine, ReturnRequest
        from inventory.models import StockMovement

        return {m.__name__: self.session.execute(select(func.count()).select_from(m)).scalar_one()
                for m in (ReturnRequest, ReturnLine, ReturnEvent, ReturnAttachment, ReturnFile, StockMovement,
                          ReceivableEntry)}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
