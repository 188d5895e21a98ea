"""A small priced channel for the price-list tests: each test module makes it its ``pw`` fixture."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

D = Decimal
START = date(2026, 1, 1)


class PricingWorld:
    def __init__(self, db_session, make_product, make_distributor):
        from distribution import price_lists as svc

        self.svc = svc
        self.session = db_session
        # 20 boxes per case
        self.product = make_product(code="PX-1", pack_size=20, base_unit="盒")
        self.other_product = make_product(code="PX-2", pack_size=10, base_unit="支")
        # Hangzhou (浙江 330000) tier 1, Wenzhou tier 2 under it, and one in Guangdong
        self.d1 = make_distributor(code="PD-ZJ1", tier=1, region_code="330100")
        self.d2 = make_distributor(code="PD-ZJ2", tier=2, region_code="330302", parent_code="PD-ZJ1")
        self.d_gd = make_distributor(code="PD-GD1", tier=1, region_code="440100")
        self.tier1 = svc.save_price_list({"code": "T1", "name": "一级供货价2026", "kind": "tier1_supply"})
        self.tier2 = svc.save_price_list({"code": "T2", "name": "二级供货价2026", "kind": "tier2_supply"})
        self.retail = svc.save_price_list({"code": "RG", "name": "零售指导价", "kind": "retail_guide"})
        self.bid_zj = svc.save_price_list({"code": "BID-ZJ", "name": "浙江中标价", "kind": "provincial_bid",
                                           "province_code": "330000"})
        self.own_d1 = svc.save_price_list({"code": "SP-ZJ1", "name": "杭州专供价", "kind": "distributor_specific",
                                           "distributor_code": "PD-ZJ1"})

    def add(self, price_list, price, min_quantity=1, unit="base", start=START, end=None, product=None):
        return self.svc.add_item(price_list, product or self.product, min_quantity, unit, D(price), start, end)

    def resolve(self, distributor, quantity, on, unit="base", product=None):
        return self.svc.resolve_price(distributor, product or self.product, quantity, on, unit)
