"""Which candidate the review page preselects (ingestion.review.suggested): only a clear one."""

from __future__ import annotations

from ingestion import matching
from ingestion.models import ReviewItem
from ingestion.review import SUGGEST_SCORE, suggested


def _item(subject, *scores):
    return ReviewItem(subject=subject, candidates=[{"id": 10 + i, "score": s, "label": f"c{i}"}
                                                   for i, s in enumerate(scores)])


def test_a_clear_leader_is_preselected():
    assert suggested(_item("customer", 84, 60)) == 10
    assert suggested(_item("customer", 70, 92)) == 11  # the best, whatever the stored order
    assert suggested(_item("customer", SUGGEST_SCORE)) == 10  # alone, at the bar


def test_low_tied_or_close_candidates_are_left_to_a_person():
    assert suggested(_item("customer")) is None
    assert suggested(_item("customer", SUGGEST_SCORE - 1)) is None
    assert suggested(_item("customer", 83, 83, 83)) is None  # 康宁门诊部 in four cities (seen on the demo)
    assert suggested(_item("customer", 90, 90 - matching.AUTO_MARGIN + 1)) is None
    assert suggested(_item("customer", 90, 90 - matching.AUTO_MARGIN)) == 10
    # products need the wider product margin
    assert suggested(_item("product", 95, 95 - matching.PRODUCT_AUTO_MARGIN + 1)) is None
    assert suggested(_item("product", 95, 95 - matching.PRODUCT_AUTO_MARGIN)) == 10
