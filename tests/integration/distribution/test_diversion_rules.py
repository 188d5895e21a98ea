"""The territory rule of the diversion flags (distribution.diversion) on its edge cases: a named terminal outside
the territory regions, a province as territory, a product authorised directly by one agreement while another
names the terminal, an agreement terminated mid-month, returns. The flags raised at load time and those of a full
rebuild are the same."""

from __future__ import annotations

from datetime import date

from sqlalchemy import text

from distribution.rollups import rebuild_rollups
from tests.integration.distribution.coverage_world import fact, load_sell_out, make_agreement

MAY = date(2026, 5, 1)


def _flags(s):
    return sorted(s.execute(text(
        "SELECT f.kind, t.code, p.code, f.business_date FROM diversion_flag f "
        "JOIN terminal t ON t.id = f.terminal_id JOIN product p ON p.id = f.product_id")).all())


def test_territory_rule_edge_cases(db_session, make_terminal, make_product, make_product_line, make_distributor,
                                   make_user):
    s = db_session
    line, other = make_product_line(code="DR-L"), make_product_line(code="DR-M")
    p1, p2 = make_product(code="DR-P1", product_line=line), make_product(code="DR-P2", product_line=other)
    named = make_terminal(code="DR-NJ", type="hospital", region_code="320102")  # 南京, named in agreement 1
    ningbo = make_terminal(code="DR-NB", type="hospital", region_code="330203")  # 宁波: within 浙江
    hangzhou = make_terminal(code="DR-HZ", type="hospital", region_code="330106")
    outside = make_terminal(code="DR-SZ", type="hospital", region_code="320104")  # 南京 too, not named
    d = make_distributor(code="DR-D", region_code="330100")
    make_agreement(make_user, d, lines=["DR-L"], regions=["330000"], terminals=["DR-NJ"])
    second = make_agreement(make_user, d, products=["DR-P2"], regions=["330100"])
    # terminated as of 15 May (set directly: terminate_agreement terminates as of today): governs up to 14 May
    second.status, second.terminated_on, second.termination_reason = "terminated", date(2026, 5, 15), "测试"
    second.terminated_by_id, second.terminated_at = second.approved_by_id, second.approved_at
    s.flush()
    load_sell_out(s, d, MAY, [
        fact(ningbo, p1, 3, date(2026, 5, 2)),  # line authorised, province territory: fine
        fact(named, p1, 2, date(2026, 5, 3)),  # a named terminal: fine
        fact(outside, p1, 4, date(2026, 5, 4)),  # outside_territory
        fact(outside, p1, -1, date(2026, 5, 5)),  # a return is never flagged
        fact(hangzhou, p2, 1, date(2026, 5, 10)),  # the second agreement, still in force: fine
        fact(hangzhou, p2, 1, date(2026, 5, 20)),  # after its termination: unauthorised_product
        fact(named, p2, 1, date(2026, 5, 11)),  # P2 authorised by the second, the terminal named by the first only
    ])
    expected = [("outside_territory", "DR-NJ", "DR-P2", date(2026, 5, 11)),
                ("outside_territory", "DR-SZ", "DR-P1", date(2026, 5, 4)),
                ("unauthorised_product", "DR-HZ", "DR-P2", date(2026, 5, 20))]
    assert _flags(s) == expected
    assert rebuild_rollups().flags == 3
    assert _flags(s) == expected
