"""Fewer garbage-collector passes during a long, allocation-heavy job (a submission's load).

CPython runs its cyclic collector every 700 net new container objects, and every tenth or so pass goes through
every older object too: a load that builds millions of short-lived lists and tuples (rows, resolution keys)
while holding the terminal index (millions of objects) spent about 8 % of its time in 5,000+ collections in
bench/ingest.py. Inside :func:`fewer_collections` the objects already alive are frozen (left out of every pass:
they are the app, its caches and the index, not this job's garbage) and the young generation is collected every
``threshold`` new objects instead of 700. Memory is still freed by reference counting as usual; only reference
cycles wait a little longer. Thread-safe and re-entrant: the outermost block restores the previous settings.
"""

from __future__ import annotations

import gc
import threading
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_saved: tuple[int, int, int] | None = None


@contextmanager
def fewer_collections(threshold: int = 50_000):
    global _depth, _saved
    with _lock:
        if _depth == 0:
            _saved = gc.get_threshold()
            gc.freeze()
            gc.set_threshold(max(threshold, _saved[0]), _saved[1], _saved[2])
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                gc.set_threshold(*_saved)
                gc.unfreeze()
