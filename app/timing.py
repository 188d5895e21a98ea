"""Wall time split into named phases, for the logs and the benchmarks of long jobs (a load, a rebuild)."""

from __future__ import annotations

import time
from collections import Counter


class Laps:
    """``laps("x")`` adds the time since the previous lap (or since the start) to phase ``x``; ``restart()`` starts
    the next phase now, leaving the time since the previous lap uncounted (work timed elsewhere)."""

    def __init__(self) -> None:
        self.seconds: Counter = Counter()
        self._last = time.perf_counter()

    def __call__(self, phase: str) -> None:
        now = time.perf_counter()
        self.seconds[phase] += now - self._last
        self._last = now

    def restart(self) -> None:
        self._last = time.perf_counter()

    def rounded(self, places: int = 2) -> dict[str, float]:
        return {k: round(v, places) for k, v in self.seconds.items()}
