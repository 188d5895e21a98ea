"""Channel stock on the hand-computed channel of conftest.py: computed, reported, difference, days, flags."""

from decimal import Decimal

import pytest

from app.tenancy import Actor, acting_as
from inventory import channel


def _cells(matrix):
    dists = {d.id: d.code for d in matrix.distributors}
    prods = {p.id: p.code for p in matrix.products}
    return {(dists[d], prods[p]): c for (d, p), c in matrix.cells.items()}


def test_matrix_numbers(db_session, channel_world):
    m = channel.channel_matrix()
    assert m.window == 90
    got = {k: (c.on_hand, c.sold, c.doi, c.flag) for k, c in _cells(m).items()}
    assert got == {
        ("CH-D1", "CH-P1"): (380, 150, Decimal("228.0"), "over"),
        ("CH-D2", "CH-P1"): (15, 80, Decimal("16.9"), "ok"),
        ("CH-D3", "CH-P1"): (2, 48, Decimal("3.8"), "under"),
        ("CH-D3", "CH-P2"): (200, 0, None, "over"),
    }
    assert [d.code for d in m.distributors] == ["CH-D1", "CH-D3", "CH-D2"]  # tier 1 first
    assert {d.code: d.province for d in m.distributors} == {"CH-D1": "浙江省", "CH-D2": "江苏省", "CH-D3": "广东省"}
    # nothing reported yet: the reported column is empty, never zero, and there is no difference
    assert all(c.reported is None and c.difference is None for c in m.cells.values())


def test_window_and_targets_are_configurable(app, db_session, channel_world):
    app.config.update(DOI_WINDOW_DAYS=120, DOI_TARGET_OVERRIDES={"CH-D1": {"under": 10, "over": 400}})
    try:
        got = {k: (c.sold, c.doi, c.flag) for k, c in _cells(channel.channel_matrix()).items()}
    finally:
        app.config.update(DOI_WINDOW_DAYS=90, DOI_TARGET_OVERRIDES={})
    # 120 days back reach 2026-02-15: D1's sell-out of 2026-03-01 now counts (90 + 60 + 50)
    assert got[("CH-D1", "CH-P1")] == (200, Decimal("228.0"), "ok")  # 380 × 120 / 200, and D1's own targets
    assert got[("CH-D2", "CH-P1")] == (80, Decimal("22.5"), "ok")


def test_transfers_can_count_as_outflow(app, db_session, channel_world):
    app.config["DOI_OUTFLOW_KINDS"] = ("sell_out", "transfer")
    try:
        got = _cells(channel.channel_matrix())[("CH-D1", "CH-P1")]
    finally:
        app.config.pop("DOI_OUTFLOW_KINDS")
    assert (got.sold, got.doi) == (250, Decimal("136.8"))  # + the 100 transferred to D2 on 2026-04-10


def test_filters(db_session, channel_world):
    assert {k for k in _cells(channel.channel_matrix(channel.ChannelFilters(tier=2)))} == {("CH-D2", "CH-P1")}
    assert {k for k in _cells(channel.channel_matrix(channel.ChannelFilters(province="440000")))} == {
        ("CH-D3", "CH-P1"), ("CH-D3", "CH-P2")}
    assert {k for k in _cells(channel.channel_matrix(channel.ChannelFilters(product="CH-P2")))} == {
        ("CH-D3", "CH-P2")}


def test_lot_level_and_ledger_components(db_session, channel_world):
    lines = {(ln.distributor_code, ln.lot_no): ln.computed for ln in channel.channel_lots()}
    assert lines == {("CH-D1", "L1"): 140, ("CH-D1", "L2"): 240, ("CH-D2", "L1"): 15, ("CH-D3", "L2"): 2,
                     ("CH-D3", "L3"): 200}
    parts = channel.ledger_components(channel_world["d1"].id)
    l1, l2 = parts[channel_world["lots"]["L1"].id], parts[channel_world["lots"]["L2"].id]
    assert (l1["shipped_in"], l1["transferred_out"], l1["sold"], l1["returned"], l1["computed"]) == (400, 100, 140,
                                                                                                     20, 140)
    assert (l2["shipped_in"], l2["sold"], l2["computed"]) == (300, 60, 240)
    d2 = channel.ledger_components(channel_world["d2"].id)[channel_world["lots"]["L1"].id]
    assert (d2["transferred_in"], d2["sold"], d2["written_off"], d2["computed"]) == (100, 80, 5, 15)


def test_reported_stock_seam(db_session, channel_world):
    """When ingestion plugs a source in, reported figures and differences appear; unplugged, nothing is made up."""
    d1, lots = channel_world["d1"], channel_world["lots"]
    p1 = channel_world["p1"]
    channel.set_reported_stock_source(lambda as_of, ids: {(d1.id, p1.id, lots["L1"].id): 130,
                                                          (d1.id, p1.id, lots["L2"].id): 240})
    try:
        cell = _cells(channel.channel_matrix())[("CH-D1", "CH-P1")]
        lines = {ln.lot_no: (ln.reported, ln.difference) for ln in channel.channel_lots()
                 if ln.distributor_code == "CH-D1"}
    finally:
        channel.set_reported_stock_source(None)
    assert (cell.reported, cell.difference) == (370, 10)
    assert lines == {"L1": (130, 10), "L2": (240, 0)}
    assert channel.reported_stock(channel_world["d1"].created_at.date()) == {}


@pytest.mark.parametrize("code", ["CH-D1"])
def test_a_distributor_sees_only_its_own_row(db_session, channel_world, code):
    d = channel_world["d1"]
    with acting_as(Actor(None, "d1", d.id)):
        m = channel.channel_matrix()
        lines = channel.channel_lots()
    assert [x.code for x in m.distributors] == [code]
    assert {ln.distributor_code for ln in lines} == {code}
