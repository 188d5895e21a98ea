"""Customer resolution: each distinct matching query is run once."""

from __future__ import annotations


def test_a_name_with_two_spellings_of_one_region_is_matched_once(db_session, world, monkeypatch):
    """Keys that differ only in how their region is written (浙江省杭州市 / 杭州市) make one fuzzy query, and both
    keys get its result; the same name with no region is a query of its own."""
    from ingestion import matching
    from ingestion.resolve import Resolver

    r = Resolver(world["d1"], "sell_out")
    region = r.regions.parse("浙江省杭州市")
    assert region is not None and r.regions.parse("杭州市") == region
    sizes = []
    real = matching.TerminalIndex.match_many

    def counted(self, queries):
        sizes.append(len(queries))
        return real(self, queries)

    monkeypatch.setattr(matching.TerminalIndex, "match_many", counted)
    name = "杭州市第九十九人民医院"
    keys = [(None, name, "浙江省杭州市"), (None, name, "杭州市"), (None, name, None)]
    got = r.customers_for(keys)
    assert sizes == [2]
    assert got[keys[0]] == got[keys[1]] and got[keys[0]].key == matching.normalise_name(name)
    assert set(got) == set(keys)
