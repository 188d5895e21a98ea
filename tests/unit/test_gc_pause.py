"""app.gc_pause: fewer collections inside the block, the collector exactly as before after it (also when nested
or when the block raises)."""

import gc

import pytest

from app.gc_pause import fewer_collections


def test_raises_the_threshold_and_freezes_then_restores():
    before, frozen = gc.get_threshold(), gc.get_freeze_count()
    alive = [[i] for i in range(1000)]  # tracked containers alive when the block starts: frozen inside
    with fewer_collections(threshold=40_000):
        assert gc.get_threshold()[0] == max(40_000, before[0])
        assert gc.get_threshold()[1:] == before[1:]
        assert gc.get_freeze_count() >= frozen + len(alive)
        with fewer_collections(threshold=10):  # nested: the outer settings stay
            assert gc.get_threshold()[0] == max(40_000, before[0])
        assert gc.get_threshold()[0] == max(40_000, before[0])
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == frozen


def test_restores_when_the_block_raises():
    before, frozen = gc.get_threshold(), gc.get_freeze_count()
    with pytest.raises(ValueError), fewer_collections():
        raise ValueError("boom")
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == frozen


def test_cycles_made_inside_are_still_collected_afterwards():
    import weakref

    class Node:
        pass

    with fewer_collections():
        a, b = Node(), Node()
        a.other, b.other = b, a
        ref = weakref.ref(a)
        del a, b
    gc.collect()
    assert ref() is None
