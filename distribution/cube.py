"""The coverage slices in memory: numpy vectors indexed by terminal id, read from the rollups and master data.

A slice is a handful of vector operations over every terminal (tens of thousands: microseconds), so any cut —
product / line × region × distributor × type × grade × period — costs the same. What is loaded stays cached in the
process, each piece under a fingerprint checked on every use, so nothing stale is ever answered:

* terminals (region, its parent and province, city, type, grade, weight, active, code), target lists (year ×
  product line → terminals) and products (their lines): by the master-data token a database trigger replaces on
  every change of the terminal, region, target list, target list entry and product tables (row 2 of
  ``coverage_state``), and the configured weights;
* presence rows (:class:`distribution.models.coverage.CoveragePresence`): by the token every rollup change writes
  (:func:`distribution.rollups.touch_state`); per key, loaded when first asked for, least recently used dropped.

Reads run as plain SQL, outside tenant scoping: :mod:`distribution.coverage` decides who may see what.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date

import numpy as np
from flask import current_app
from sqlalchemy import text

from app.extensions import db
from distribution import metrics
from distribution.models.coverage import ProductScope

TYPE_CODES = {"hospital": 0, "pharmacy": 1, "clinic": 2, "other": 3}
MAX_PRESENCE_KEYS = 256  # × (terminals × 2 bytes): about 30 MB per process at 60,000 terminals

_lock = threading.Lock()
_store: dict = {}


def _q(sql: str, params: dict | None = None):
    return db.session.execute(text(sql), params or {})


def _columns(sql: str, params: dict, n: int) -> np.ndarray:
    """An (rows × n) int64 array of the first ``n`` integer columns ``sql`` selects. On PostgreSQL the rows come
    back as ``n`` arrays (array_agg: one row, converted in C), elsewhere row by row."""
    if db.session.get_bind().dialect.name == "postgresql":
        names = [f"c{i}" for i in range(n)]
        row = _q(f"SELECT {', '.join(f'array_agg({c})' for c in names)} FROM ({sql}) x", params).one()
        if row[0] is None:
            return np.zeros((0, n), np.int64)
        return np.column_stack([np.array(col, dtype=np.int64) for col in row])
    rows = _q(sql, params).tuples().all()
    return np.array(rows, dtype=np.int64).reshape(-1, n)


@dataclass
class Terminals:
    size: int
    exists: np.ndarray
    active: np.ndarray
    region: np.ndarray
    parent: np.ndarray
    province: np.ndarray
    city: np.ndarray
    type: np.ndarray
    grade: np.ndarray  # index into ``grades``, -1 for none
    grades: list[str]
    weight: np.ndarray
    code: np.ndarray


def _load_terminals() -> Terminals:
    rows = _q("SELECT t.id, t.active, t.type, t.grade, t.pharmacy_size, t.potential_weight, t.region_id, "
              "r.parent_id, r.province_id, r.city_unit_id, t.code FROM terminal t JOIN region r ON r.id = t.region_id"
              ).all()
    size = (max((r[0] for r in rows), default=0)) + 1
    weights = metrics.merged_weights(current_app.config.get("COVERAGE_WEIGHTS"))
    out = Terminals(size, np.zeros(size, bool), np.zeros(size, bool), np.zeros(size, np.int64),
                    np.zeros(size, np.int64), np.zeros(size, np.int64), np.zeros(size, np.int64),
                    np.full(size, -1, np.int8), np.full(size, -1, np.int16), [], np.zeros(size, np.int64),
                    np.full(size, "", object))
    grades: dict[str, int] = {}
    for t_id, active, kind, grade, pharmacy, own, region, parent, province, city, code in rows:
        out.exists[t_id] = True
        out.active[t_id] = bool(active)
        out.region[t_id], out.parent[t_id] = region, parent or 0
        out.province[t_id], out.city[t_id] = province or 0, city or 0
        out.type[t_id] = TYPE_CODES.get(kind, 3)
        if grade:
            out.grade[t_id] = grades.setdefault(grade, len(grades))
        out.weight[t_id] = metrics.effective_weight(kind, grade, pharmacy, own, weights)
        out.code[t_id] = code
    out.grades = list(grades)
    return out


def _load_targets() -> dict[int, dict[int, np.ndarray]]:
    """{year: {line id: terminal ids}} of the active target lists."""
    rows = _columns("SELECT tl.year AS c0, tl.product_line_id AS c1, e.terminal_id AS c2 FROM target_list_entry e "
                    "JOIN target_list tl ON tl.id = e.target_list_id WHERE tl.active", {}, 3)
    out: dict[int, dict[int, np.ndarray]] = {}
    if rows.size:
        for year, line in {(int(y), int(ln)) for y, ln in rows[:, :2]}:
            pick = (rows[:, 0] == year) & (rows[:, 1] == line)
            out.setdefault(year, {})[line] = np.unique(rows[pick, 2])
    return out


def _load_products() -> dict[int, int]:
    return {int(p): int(ln) for p, ln in _q("SELECT id, product_line_id FROM product").all()}


def _cached(name: str, fingerprint, load):
    with _lock:
        hit = _store.get(name)
        if hit is not None and hit[0] == fingerprint:
            return hit[1]
    value = load()
    with _lock:
        _store[name] = (fingerprint, value)
    return value


class Cube:
    """One consistent view for one request (build it with :func:`current`)."""

    def __init__(self):
        weights = repr(sorted((current_app.config.get("COVERAGE_WEIGHTS") or {}).items()))
        tokens = dict(_q("SELECT id, token FROM coverage_state WHERE id IN (1, 2)").all())
        self.token = tokens.get(1) or "none"
        master = (tokens.get(2) or "none", weights)
        fp_t = fp_l = fp_p = master
        self.terminals: Terminals = _cached("terminals", fp_t, _load_terminals)
        self.target_lists = _cached("targets", fp_l, _load_targets)
        self.line_of = _cached("products", fp_p, _load_products)
        self.n = self.terminals.size

    # -- presence -----------------------------------------------------------------------------------------------
    def _presence(self, key, load):
        with _lock:
            entry = _store.get("presence")
            if entry is None or entry[0] != self.token:
                entry = (self.token, OrderedDict())
                _store["presence"] = entry
            cache = entry[1]
            if key in cache:
                cache.move_to_end(key)
                return cache[key]
        value = load()
        with _lock:
            cache[key] = value
            while len(cache) > MAX_PRESENCE_KEYS:
                cache.popitem(last=False)
        return value

    def _dense(self, terminals: np.ndarray, months: np.ndarray) -> np.ndarray:
        out = np.zeros(self.n, np.int16)  # 12 month bits
        keep = terminals < self.n
        np.bitwise_or.at(out, terminals[keep], months[keep].astype(np.int16))
        return out

    def months(self, distributor_id: int, year: int, scope: tuple[int, int]) -> np.ndarray:
        """Month bits per terminal in ``year`` for the product scope, from one distributor (0: any)."""
        kind, ident = scope
        if not distributor_id:
            def load():
                rows = _columns("SELECT terminal_id AS c0, months AS c1 FROM coverage_presence "
                                "WHERE distributor_id = 0 AND year = :y AND scope = :s AND scope_id = :i",
                                {"y": year, "s": kind, "i": ident}, 2)
                return self._dense(rows[:, 0], rows[:, 1])

            return self._presence((0, year, kind, ident), load)

        rows = self._presence(("d", distributor_id, year), lambda: _columns(
            "SELECT terminal_id AS c0, scope_id AS c1, months AS c2 FROM coverage_presence WHERE distributor_id = :d "
            "AND year = :y AND scope = :s", {"d": distributor_id, "y": year, "s": ProductScope.PRODUCT.value}, 3))
        if kind == ProductScope.PRODUCT.value:
            pick = rows[:, 1] == ident
        elif kind == ProductScope.LINE.value:
            pick = np.isin(rows[:, 1], [p for p, line in self.line_of.items() if line == ident])
        else:
            pick = np.ones(len(rows), bool)
        return self._dense(rows[pick, 0], rows[pick, 2])

    def bought(self, distributor_id: int, scope: tuple[int, int], months: list[date]) -> np.ndarray:
        """Whether each terminal bought (products of the scope, from the distributor or any) in one of ``months``."""
        out = np.zeros(self.n, bool)
        for year, mask in metrics.masks_by_year(months).items():
            out |= (self.months(distributor_id, year, scope) & mask) != 0
        return out

    # -- terminals and targets ----------------------------------------------------------------------------------
    def targets(self, year: int, lines: list[int] | None) -> np.ndarray:
        out = np.zeros(self.n, bool)
        for line, ids in self.target_lists.get(year, {}).items():
            if lines is None or line in lines:
                out[ids[ids < self.n]] = True
        return out

    def within(self, region_ids) -> np.ndarray:
        """Terminals whose region is one of ``region_ids`` or lies inside one."""
        ids = np.fromiter(region_ids, np.int64) if not isinstance(region_ids, np.ndarray) else region_ids
        t = self.terminals
        return np.isin(t.region, ids) | np.isin(t.parent, ids) | np.isin(t.province, ids)

    def filters(self, region_id: int | None, terminal_type: str | None, grade: str | None,
                active_only: bool) -> np.ndarray:
        t = self.terminals
        out = t.exists & t.active if active_only else t.exists.copy()
        if region_id:
            out &= self.within([region_id])
        if terminal_type:
            out &= t.type == TYPE_CODES.get(terminal_type, -2)
        if grade:
            out &= t.grade == (t.grades.index(grade) if grade in t.grades else -2)
        return out

    def territory(self, region_ids: set[int], terminal_ids: set[int]) -> np.ndarray:
        out = self.within(region_ids) if region_ids else np.zeros(self.n, bool)
        ids = np.fromiter((i for i in terminal_ids if i < self.n), np.int64)
        out[ids] = True
        return out


def current() -> Cube:
    return Cube()


def clear() -> None:
    """Forget everything cached (tests that change master data underneath without a fingerprint change)."""
    with _lock:
        _store.clear()
