"""Near-expiry stock is valued at the tier-1 supply price in force (pricing plugged into inventory)."""

from datetime import date, timedelta
from decimal import Decimal

from distribution import price_lists as svc
from inventory import expiry
from inventory.services import register_lot
from tests.conftest import TODAY


def test_lots_are_valued_at_the_tier1_supply_base_price(db_session, make_product):
    priced, unpriced = make_product(code="VAL-1"), make_product(code="VAL-2")
    tier1 = svc.save_price_list({"code": "VAL-T1", "name": "一级供货价", "kind": "tier1_supply"})
    tier2 = svc.save_price_list({"code": "VAL-T2", "name": "二级供货价", "kind": "tier2_supply"})
    svc.add_item(tier1, priced, 1, "base", Decimal("12.5000"), TODAY - timedelta(days=30), None)
    svc.add_item(tier1, priced, 100, "base", Decimal("11.0000"), TODAY - timedelta(days=30), None)
    svc.add_item(tier2, unpriced, 1, "base", Decimal("20.0000"), TODAY - timedelta(days=30), None)
    a = register_lot(priced, "VAL-A", date(2025, 1, 1), date(2026, 9, 1))
    b = register_lot(unpriced, "VAL-B", date(2025, 1, 1), date(2026, 9, 1))
    assert expiry.unit_values([a.id, b.id]) == {a.id: Decimal("12.5000")}
