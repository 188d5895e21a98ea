"""The pure return rules: the policy, the workflow's steps, the original-price credit (latest shipments first, each
shipped unit credited once), the restocking fee, attachments; and GS1 scan parsing (biip)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from distribution import gs1
from distribution import return_rules as rules

D = Decimal
TODAY = date(2026, 6, 15)
POLICY = rules.ReturnPolicy()


def facts(**kw):
    base = {"reason": "overstock", "quantity": 10, "returnable": 10, "expires_on": date(2027, 12, 31),
            "last_shipped_on": date(2026, 6, 10), "has_attachment": False}
    return rules.LineFacts(**{**base, **kw})


def codes(problems):
    return [p.code for p in problems]


def test_steps_only_from_their_status():
    assert rules.next_status("approve", "requested") == "approved"
    assert rules.next_status("reject", "requested") == "rejected"
    assert rules.next_status("receive", "approved") == "received"
    assert rules.next_status("dispose", "received") == "disposed"
    assert rules.next_status("credit", "disposed") == "credited"
    assert rules.next_status("credit", "credited") is None  # a second credit
    assert rules.next_status("approve", "received") is None
    assert rules.next_status("receive", "rejected") is None


@pytest.mark.parametrize(("kw", "expected"), [
    ({}, []),
    ({"quantity": 11}, ["too_many"]),
    ({"reason": "near_expiry", "expires_on": date(2026, 9, 13)}, []),  # 90 days left: in the window
    ({"reason": "near_expiry", "expires_on": date(2026, 9, 14)}, ["not_near_expiry"]),  # 91
    ({"reason": "near_expiry", "expires_on": date(2026, 6, 14)}, ["expired"]),
    ({"reason": "damaged_in_transit"}, ["attachment_required"]),
    ({"reason": "damaged_in_transit", "has_attachment": True}, []),
    ({"reason": "damaged_in_transit", "has_attachment": True, "last_shipped_on": date(2026, 6, 7)},
     ["damage_reported_late"]),  # 8 days
    ({"reason": "quality_complaint"}, ["attachment_required"]),
    ({"reason": "wrong_shipment", "last_shipped_on": date(2026, 5, 16)}, []),  # 30 days
    ({"reason": "wrong_shipment", "last_shipped_on": date(2026, 5, 15)}, ["wrong_shipment_late"]),  # 31
    ({"reason": "overstock", "expires_on": date(2026, 12, 11)}, ["overstock_short_shelf"]),  # 179 days
    ({"reason": "recall"}, ["no_recall"]),
    ({"reason": "recall", "recall_status": "closed"}, ["recall_closed"]),
    ({"reason": "recall", "recall_status": "open", "expires_on": date(2026, 1, 1)}, []),  # expired but recalled
    ({"reason": "wrong_shipment", "quantity": 12, "expires_on": date(2026, 1, 1)}, ["expired", "too_many"]),
    ({"reason": "bogus"}, ["unknown_reason"]),
])
def test_policy(kw, expected):
    assert codes(rules.check_line(facts(**kw), POLICY, TODAY)) == expected


def test_policy_from_config():
    p = rules.ReturnPolicy.from_mapping({"near_expiry_window_days": 30, "overstock_restocking_fee_pct": "15"})
    assert (p.near_expiry_window_days, p.fee_pct("overstock"), p.fee_pct("recall")) == (30, D("15"), D("0"))
    assert codes(rules.check_line(facts(reason="near_expiry", expires_on=date(2026, 8, 1)), p, TODAY)) == [
        "not_near_expiry"]
    for bad in ({"near_expiry_windo": 1}, {"damaged_report_days": -1}, {"overstock_restocking_fee_pct": "101"}):
        with pytest.raises(ValueError):
            rules.ReturnPolicy.from_mapping(bad)
    assert rules.approval_needs_reason(["near_expiry", "overstock"])
    assert not rules.approval_needs_reason(["near_expiry"])


def test_price_latest_shipments_first():
    shipped = [rules.ShippedUnits(1, date(2026, 5, 1), 10, 0, D("12.3456"), "INV-1"),
               rules.ShippedUnits(2, date(2026, 6, 10), 20, 0, D("11.0000"), "INV-2"),
               rules.ShippedUnits(3, date(2026, 6, 10), 5, 5, D("9.0000"), "INV-3")]  # fully credited before
    parts, rest = rules.price_from_shipments(25, shipped)
    assert [(p.key, p.quantity, p.amount) for p in parts] == [(2, 20, D("220.00")), (1, 5, D("61.73"))]
    assert rest == 0
    parts, rest = rules.price_from_shipments(40, shipped)
    assert sum(p.quantity for p in parts) == 30 and rest == 10  # units beyond what we shipped: no price


@given(st.integers(0, 500), st.lists(st.tuples(st.integers(0, 365), st.integers(1, 100), st.integers(0, 100),
                                                st.decimals("0.0001", "999.9999", places=4)), max_size=8))
def test_pricing_never_credits_a_shipped_unit_twice(quantity, rows):
    shipped = [rules.ShippedUnits(i, date.fromordinal(date(2026, 1, 1).toordinal() + d), q, min(c, q), p)
               for i, (d, q, c, p) in enumerate(rows)]
    parts, rest = rules.price_from_shipments(quantity, shipped)
    open_ = {s.key: s.open for s in shipped}
    assert all(p.quantity <= open_[p.key] for p in parts)
    assert len({p.key for p in parts}) == len(parts)
    assert sum(p.quantity for p in parts) + rest == quantity
    assert rest == max(quantity - sum(open_.values()), 0)
    dates = [s.shipped_on for s in shipped if s.key in {p.key for p in parts}]
    untouched = [s.shipped_on for s in shipped if s.open and s.key not in {p.key for p in parts}]
    assert not dates or not untouched or min(dates) >= max(untouched)  # never an older one before a newer one


def test_restocking_fee_rounds_half_up():
    assert rules.restocking_fee(D("281.73"), D("10")) == D("28.17")
    assert rules.restocking_fee(D("0.05"), D("10")) == D("0.01")  # 0.005 → 0.01
    assert rules.restocking_fee(D("10.00"), D("0")) == D("0.00")


def test_attachments():
    assert rules.sniff(b"\xff\xd8\xff\xe0rest") == "image/jpeg"
    assert rules.sniff(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image/webp"
    assert rules.sniff(b"<svg onload=alert(1)>") is None
    assert rules.check_attachment("a.pdf", b"%PDF-1.7") is None
    assert rules.check_attachment("a.exe", b"MZ").code == "attachment_type"
    assert rules.check_attachment("a.pdf", b"").code == "attachment_empty"
    assert rules.check_attachment("a.pdf", b"%PDF-" + b"0" * 100, max_bytes=50).code == "attachment_too_large"
    assert rules.safe_filename("C:\\fakepath\\..\\破损<1>.jpeg", "image/jpeg") == "破损1.jpg"
    assert rules.safe_filename("report.pdf.exe", "application/pdf") == "report.pdf.pdf"
    assert rules.safe_filename("", "image/png") == "attachment.png"


# -- GS1 ------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text", [
    "(01)06937215000010(17)270630(10)A2406(21)0001",
    "010693721500001017270630" "10A2406\x1d210001",
    "]d2010693721500001017270630" "10A2406\x1d210001",
    "  010693721500001017270630" "10A2406\x1d210001\r\n",
])
def test_scans_with_and_without_separators(text):
    assert gs1.parse_scan(text) == gs1.Scan("06937215000010", "A2406", date(2027, 6, 30), "0001")


def test_scan_edge_cases():
    assert gs1.parse_scan("6937215000010") == gs1.Scan("06937215000010")  # a bare EAN-13
    assert gs1.parse_scan("(01)06937215000010(17)270600(10)X").expires_on == date(2027, 6, 30)  # day 00: month end
    for bad, code in (("", "unreadable"), ("hello", "unreadable"), ("(01)06937215000011(10)X", "check_digit"),
                      ("6937215000011", "check_digit"), ("(10)ONLYLOT", "no_gtin")):
        with pytest.raises(gs1.ScanError) as exc:
            gs1.parse_scan(bad)
        assert exc.value.code == code, bad
    assert gs1.gtin14("6937215000010") == "06937215000010"
