"""Benchmark: match 50,000 distinct customer names against 50,000 terminals (pure CPU, no database).

    .venv/bin/python bench/match.py [--terminals 50000] [--names 50000] [--baseline-sample 300] [--seed 1]

The terminals and the names come from the labelled generator of ``ingestion.matching`` over the real GB/T 2260
regions in ../shared/data/regions (hospitals, health centres, clinics, chain pharmacy branches; the names varied as
distributors' files vary them, a quarter of them hard negatives that are NOT in the index: 第二 for 第一, another
branch of the same chain, another kind of hospital, a campus, the same name in another city).

Measured in the same run:
* ``TerminalIndex.match_many`` (alias, normalised, place-aware core, then fuzzy over blocked candidates) over all
  names, with the precision and recall of its automatic matches;
* the naive baseline: ``rapidfuzz.process.extractOne`` of each normalised name against all 50,000 normalised
  terminal names, timed on a random sample and extrapolated to all names, with the precision and recall it would
  have at the same score threshold (no margin, no place rules, no vetoes).
Prints a table, then as the last line a JSON object with the figures.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
REGIONS = ROOT.parent / "shared" / "data" / "regions"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{cpu}, {os.cpu_count()} CPUs, load {load:.1f}, Python {platform.python_version()}"


def load_places():
    from ingestion.matching import DEFAULT_PLACES, places_from_regions

    if not (REGIONS / "areas.csv").exists():
        return list(DEFAULT_PLACES)

    def rows(name):
        with (REGIONS / name).open(encoding="utf-8") as fh:
            return list(csv.reader(fh))[1:]

    return places_from_regions(rows("provinces.csv"), rows("cities.csv"), rows("areas.csv"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--terminals", type=int, default=50_000)
    parser.add_argument("--names", type=int, default=50_000)
    parser.add_argument("--baseline-sample", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    from rapidfuzz import fuzz, process

    from ingestion import matching as m

    places = load_places()
    t0 = time.perf_counter()
    terminals = m.generate_terminals(args.terminals, seed=args.seed, places=places)
    labelled = m.generate_queries(terminals, args.names, seed=args.seed + 1, places=places)
    generate_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    index = m.TerminalIndex(terminals, region_names=m.region_names(places))
    build_s = time.perf_counter() - t0
    t0, c0 = time.perf_counter(), time.process_time()
    results = index.match_many([lq.query for lq in labelled])
    match_s, match_cpu = time.perf_counter() - t0, time.process_time() - c0
    ev = m.evaluate(index, labelled)  # the same matching again, scored (not timed)
    methods: dict[str | None, int] = {}
    for r in results:
        methods[r.method] = methods.get(r.method, 0) + 1

    # Baseline: extractOne against every terminal, on a sample, extrapolated.
    rng = random.Random(args.seed)
    sample = rng.sample(labelled, min(args.baseline_sample, len(labelled)))
    keys = index.keys
    t0 = time.perf_counter()
    base_auto = base_right = 0
    for lq in sample:
        best = process.extractOne(m.normalise_name(lq.query.name), keys, scorer=fuzz.ratio)
        if best and best[1] >= m.AUTO_SCORE:
            base_auto += 1
            base_right += terminals[best[2]].id == lq.expected_id
    base_sample_s = time.perf_counter() - t0
    base_s = base_sample_s / len(sample) * len(labelled)
    base_pos = sum(1 for lq in sample if lq.expected_id is not None)
    base_precision = base_right / base_auto if base_auto else 1.0
    base_recall = base_right / base_pos if base_pos else 1.0

    print(f"machine: {machine()}")
    print(f"{len(terminals)} terminals over {len(places)} counties, {len(labelled)} names "
          f"({ev.positives} variants of indexed terminals, {ev.total - ev.positives} hard negatives); "
          f"generated in {generate_s:.1f} s")
    print()
    print(f"{'measure':<52}{'seconds':>10}{'precision':>11}{'recall':>9}")
    print(f"{'TerminalIndex build':<52}{build_s:>10.2f}")
    print(f"{'TerminalIndex.match_many (all names)':<52}{match_s:>10.2f}{ev.precision:>11.4f}{ev.recall:>9.4f}")
    print(f"{'  of which CPU (both cores, process time)':<52}{match_cpu:>10.2f}")
    print(f"{f'naive extractOne, {len(sample)} sampled, extrapolated':<52}{base_s:>10.1f}{base_precision:>11.4f}"
          f"{base_recall:>9.4f}")
    print(f"speed-up (naive ÷ blocked): {base_s / match_s:.0f}×; automatic {ev.automatic}, wrong {ev.wrong}, "
          f"review {ev.review}; target < 10 s: {'met' if match_s < 10 else 'NOT met'}")
    print("methods: " + ", ".join(f"{k or 'review'} {v}" for k, v in sorted(methods.items(), key=lambda kv: -kv[1])))
    print(f"{'variant':<18}{'names':>7}{'right':>7}{'wrong':>7}")
    for variant, (count, right, wrong) in ev.by_variant.items():
        print(f"{variant:<18}{count:>7}{right:>7}{wrong:>7}")
    print(json.dumps({"bench": "match", "names": len(labelled), "terminals": len(terminals),
                      "seconds": round(match_s, 2), "cpu_seconds": round(match_cpu, 2),
                      "build_seconds": round(build_s, 2),
                      "precision": round(ev.precision, 4), "recall": round(ev.recall, 4), "wrong": ev.wrong,
                      "baseline_seconds": round(base_s, 1), "baseline_precision": round(base_precision, 4),
                      "baseline_recall": round(base_recall, 4), "speedup": round(base_s / match_s, 1),
                      "load": round(os.getloadavg()[0], 1)}))


if __name__ == "__main__":
    main()
