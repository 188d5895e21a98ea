"""The returns section of the distributor 360° page and the links of every section, on the return world
(return_world.py, whose hand-computed shipments these figures build on):

    ret A  10 × L-LATE overstock, all the way to credit: the latest shipment first, 10 × 11.0000 = 110.00,
           less the 10% overstock fee 11.00 → credited 99.00
    ret B  5 × L-LATE wrong shipment, only requested (open)
    ret C  3 × L-LATE overstock, rejected
    recall of L-EARLY: OW-D1 held 25 when it opened (30 shipped − 5 transferred to OW-D2), the recall return asks
           for those 25 (approved), 15 arrive → received (open), recovered 15, outstanding 25 − 15 = 10

OW-D1 by status: requested 1, approved 0, rejected 1, received 1, disposed 0, credited 1 → 4 in all, 2 open.
"""

from __future__ import annotations

import html as htmllib
import re
from decimal import Decimal

import pytest

from distribution import recalls
from tests.integration.distribution.return_world import ReturnWorld

D = Decimal


@pytest.fixture
def rw(request):
    world = ReturnWorld.build(request)
    world.ret_a = world.through(world.request([world.line(qty=10, reason="overstock")]))
    world.ret_b = world.request([world.line(qty=5, reason="wrong_shipment")])
    world.ret_c = world.decide(world.request([world.line(qty=3, reason="overstock")]), approve=False,
                               reason="不符合退货政策")
    with world.acting(world.cm):
        world.recall = recalls.open_recall([{"product_code": "OW-P1", "lot_no": "L-EARLY"}], "含量下降", "II",
                                           world.cm)
    world.recall_ret = next(r for r in world.recall.returns if r.distributor_id == world.d.id)
    world.receive(world.recall_ret, {world.recall_ret.lines[0].id: 15})
    world.session.commit()
    return world


def _section(page: str, key: str) -> str:
    start = page.index(f'id="section-{key}"')
    return page[start:page.index("</section>", start)]


def _links(page: str) -> list[str]:
    body = page[page.index('<a class="btn btn-outline-secondary btn-sm" id="export-link"'):]  # header and sections
    return sorted({htmllib.unescape(h) for h in re.findall(r'href="(/[^"]+)"', body)})


def test_returns_section_numbers_for_staff(rw, login):
    assert rw.ret_a.credit_amount == D("99.00")  # the hand figure above, as the service booked it
    c = login("channel_manager")
    page = c.get(f"/distribution/distributors/{rw.d.id}/360").get_data(as_text=True)
    sec = _section(page, "returns")
    counts = dict(re.findall(r'data-status="(\w+)">(\d+)<', sec))
    assert counts == {"requested": "1", "approved": "0", "rejected": "1", "received": "1", "disposed": "0",
                      "credited": "1"}
    assert re.search(r'id="c360-returns-total"[^>]*>4<', sec)
    assert 'id="c360-returns-open">2<' in sec and 'id="c360-returns-credited">99.00<' in sec
    assert rw.ret_b.number in sec and rw.recall_ret.number in sec
    assert rw.ret_a.number not in sec and rw.ret_c.number not in sec  # closed ones are not listed as open
    row = re.search(rf'data-recall="{rw.recall.number}" data-lot="L-EARLY">(.*?)</tr>', sec, re.S).group(1)
    assert [int(n) for n in re.findall(r'text-end[^"]*">(\d+)<', row)] == [25, 25, 15, 10]
    assert "退货" in sec  # Chinese-first labels
    api = c.get(f"/api/v1/distributors/{rw.d.id}/360").json
    returns = next(s for s in api["sections"] if s["key"] == "returns")
    assert [rw.recall.number, "L-EARLY", 25, 25, 15, 10] in returns["rows"]
    assert any(r[2] == "99.00" for r in returns["rows"])


def test_every_link_on_the_page_opens_for_the_manager(rw, login):
    c = login("channel_manager")
    page = c.get(f"/distribution/distributors/{rw.d.id}/360").get_data(as_text=True)
    links = _links(page)
    for must in (f"/distribution/returns/?distributor={rw.d.code}", f"/distribution/returns/{rw.ret_b.id}",
                 f"/distribution/recalls/{rw.recall.id}", f"/ingestion/?distributor={rw.d.code}",
                 f"/ingestion/review?distributor={rw.d.code}", f"/distribution/orders/?distributor={rw.d.code}",
                 f"/credit/distributors/{rw.d.id}", f"/inventory/channel/lots?distributor={rw.d.code}",
                 f"/distribution/coverage/diversion?distributor={rw.d.code}"):
        assert any(link.startswith(must) for link in links), must
    assert any(link.startswith("/distribution/coverage/terminals?") for link in links)
    for link in links:
        assert c.get(link).status_code == 200, link


def test_distributor_sees_its_own_returns_and_only_links_it_may_open(rw, login):
    dist = login(rw.user)
    own = dist.get(f"/distribution/distributors/{rw.d.id}/360")
    assert own.status_code == 200
    page = own.get_data(as_text=True)
    sec = _section(page, "returns")
    assert 'id="c360-returns-open">2<' in sec and f"/distribution/recalls/{rw.recall.id}" not in sec
    row = re.search(rf'data-recall="{rw.recall.number}" data-lot="L-EARLY">(.*?)</tr>', sec, re.S).group(1)
    assert [int(n) for n in re.findall(r'text-end[^"]*">(\d+)<', row)] == [25, 15, 10]  # no baseline column
    for link in _links(page):
        assert dist.get(link).status_code == 200, link
    other = login(rw.user2)  # the tier-2 OW-D2 may not open OW-D1's page, nor its API twin, nor the export
    assert other.get(f"/distribution/distributors/{rw.d.id}/360").status_code in (403, 404)
    assert other.get(f"/api/v1/distributors/{rw.d.id}/360").status_code in (403, 404)
    assert other.get(f"/distribution/distributors/{rw.d.id}/360.xlsx").status_code in (403, 404)
    mine = other.get(f"/distribution/distributors/{rw.d2.id}/360").get_data(as_text=True)
    assert rw.ret_b.number not in mine and 'id="c360-returns-open">1<' in _section(mine, "returns")
