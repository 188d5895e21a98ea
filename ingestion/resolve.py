"""What one submission's rows are resolved against: products, lots, units, customers and suppliers.

Built once per load (:class:`Resolver`), then asked per chunk for the distinct keys it has not seen yet, so a
million-row file with 50,000 customers matches each customer once. Order of resolution (the first that answers
wins): the distributor's own aliases (by code, then by normalised name), then our master data (distributors by
exact normalised name; terminals through :class:`ingestion.matching.TerminalIndex`: global aliases, normalised
name, fuzzy within the region). An answer below the automatic threshold is a review (with the candidates); the
caller turns it into a :class:`~ingestion.models.ReviewItem`.

The terminal index over all terminals is kept per process and rebuilt only when the terminals or their global
aliases change (the same worker processes many submissions).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select

from app.extensions import db
from app.models import Distributor, Product, Region, Terminal, TerminalAlias
from ingestion import loading, matching
from ingestion.models import CustomerAlias, ProductAlias
from inventory.models import Lot


@dataclass(frozen=True)
class Resolution:
    """A customer / supplier / product key resolved: ``target`` ('terminal' | 'distributor' | 'product') with
    ``id``, or a review (``id`` None) with ``candidates`` [(id, score, label)] and the alias key it would create."""

    target: str | None
    id: int | None
    key_kind: str
    key: str
    candidates: tuple = ()
    method: str | None = None

    @property
    def matched(self) -> bool:
        return self.id is not None


def product_key(name: str | None, spec: str | None) -> str:
    return f"{matching.normalise_name(name)}|{matching.normalise_spec(spec)}"


_INDEX_LOCK = threading.Lock()
_INDEX_CACHE: dict[str, tuple[tuple, matching.TerminalIndex, dict[int, int]]] = {}


def terminal_index() -> tuple[matching.TerminalIndex, dict[int, int]]:
    """All active terminals with their global aliases, as a matching index, and each terminal's region (cached
    while the terminals do not change)."""
    stamp = tuple(db.session.execute(select(func.count(Terminal.id), func.max(Terminal.id),
                                            func.max(Terminal.updated_at),
                                            select(func.count(TerminalAlias.id)).scalar_subquery(),
                                            select(func.max(TerminalAlias.id)).scalar_subquery())).one())
    bind = db.session.get_bind()
    url = str(getattr(bind, "engine", bind).url)
    with _INDEX_LOCK:
        cached = _INDEX_CACHE.get(url)
        if cached and cached[0] == stamp:
            return cached[1], cached[2]
    regions = {rid: (parent, province) for rid, parent, province in db.session.execute(
        select(Region.id, Region.parent_id, Region.province_id))}
    candidates, region_of = [], {}
    for t_id, name, region_id in db.session.execute(
            select(Terminal.id, Terminal.name, Terminal.region_id).where(Terminal.active).order_by(Terminal.id)):
        parent, province = regions.get(region_id, (None, None))
        candidates.append(matching.Candidate(t_id, name, (region_id, parent, province)))
        region_of[t_id] = region_id
    aliases = db.session.execute(select(TerminalAlias.alias, TerminalAlias.terminal_id)).all()
    names = dict(db.session.execute(select(Region.id, Region.name).where(Region.level < 3)).all())
    index = matching.TerminalIndex(candidates, aliases, region_names=names)
    with _INDEX_LOCK:
        _INDEX_CACHE[url] = (stamp, index, region_of)
    return index, region_of


class RegionParser:
    """Region text in a file (浙江省杭州市西湖区, 杭州 西湖区, 西湖区, a 6-digit code) → the most specific region id it
    names, read top down: a province narrows the cities, a city the counties, so the 西湖区 of 杭州 is not the one of
    南昌. A county name alone that several cities share stays at the level it is sure of (None if nothing)."""

    def __init__(self):
        rows = db.session.execute(select(Region.id, Region.code, Region.name, Region.official_name, Region.level,
                                         Region.parent_id, Region.province_id)).all()
        self.by_code = {code: rid for rid, code, *_ in rows}
        # name → [(level, id, parent id, province id)]: a text is read by looking its substrings up
        self.names: dict[str, list[tuple[int, int, int | None, int | None]]] = {}
        for rid, _code, name, official, level, parent, province in rows:
            for text in {name, official, _short(official)}:
                if text and len(text) >= 2 and text not in ("市辖区", "县", "省直辖县级行政区划"):
                    self.names.setdefault(text, []).append((level, rid, parent, province))
        self.longest = max((len(t) for t in self.names), default=2)
        self._cache: dict[str, int | None] = {}

    def parse(self, text: str | None) -> int | None:
        if not text:
            return None
        if text in self._cache:
            return self._cache[text]
        value = text.strip()
        found = self.by_code.get(value) if value.isdigit() else None
        if found is None:
            found = self._walk(value)
        if len(self._cache) > 200_000:  # kept per process: bounded
            self._cache.clear()
        self._cache[text] = found
        return found

    def _walk(self, value: str) -> int | None:
        named = [hit for i in range(len(value)) for j in range(i + 2, min(len(value), i + self.longest) + 1)
                 for hit in self.names.get(value[i:j], ())]
        province = city = None
        hits = {rid for level, rid, _p, _pr in named if level == 1}
        if len(hits) == 1:
            province = hits.pop()
        hits = {rid for level, rid, _p, pr in named if level == 2 and (province is None or pr == province)}
        if len(hits) == 1:
            city = hits.pop()
        hits = {rid for level, rid, parent, pr in named if level == 3
                and (city is None or parent == city) and (province is None or pr == province)}
        county = hits.pop() if len(hits) == 1 else None
        return county or city or province


_PARSERS: dict[str, tuple[int, RegionParser]] = {}


def region_parser() -> RegionParser:
    """The region parser of this database (kept per process while the regions do not change)."""
    count = db.session.execute(select(func.count(Region.id))).scalar_one()
    bind = db.session.get_bind()
    url = str(getattr(bind, "engine", bind).url)
    with _INDEX_LOCK:
        cached = _PARSERS.get(url)
        if cached and cached[0] == count:
            return cached[1]
    parser = RegionParser()
    with _INDEX_LOCK:
        _PARSERS[url] = (count, parser)
    return parser


def _short(official: str | None) -> str | None:
    if not official:
        return None
    for suffix in ("维吾尔自治区", "壮族自治区", "回族自治区", "自治区", "特别行政区", "省", "市", "自治州", "地区",
                   "盟"):
        if official.endswith(suffix) and len(official) - len(suffix) >= 2:
            return official[: -len(suffix)]
    return None


class Resolver:
    """Resolves the keys of one distributor's file (see the module docstring)."""

    def __init__(self, distributor: Distributor, kind: str):
        self.distributor = distributor
        self.kind = kind
        self.customer_aliases: dict[tuple[str, str], tuple[str, int]] = {}
        for key_kind, key, terminal_id, to_dist in db.session.execute(
                select(CustomerAlias.key_kind, CustomerAlias.key, CustomerAlias.terminal_id,
                       CustomerAlias.to_distributor_id).where(CustomerAlias.distributor_id == distributor.id)):
            self.customer_aliases[key_kind, key] = ("terminal", terminal_id) if terminal_id else \
                ("distributor", to_dist)
        self.product_aliases = {(k, key): pid for k, key, pid in db.session.execute(
            select(ProductAlias.key_kind, ProductAlias.key, ProductAlias.product_id)
            .where(ProductAlias.distributor_id == distributor.id))}
        products = db.session.execute(select(Product.id, Product.code, Product.generic_name, Product.brand_name,
                                             Product.specification, Product.base_unit, Product.pack_size,
                                             Product.gtin)).all()
        self.products = {p.id: p for p in products}
        self.product_codes = {p.code: p.id for p in products} | {p.gtin: p.id for p in products if p.gtin}
        self.product_index = matching.ProductIndex(
            [matching.ProductCandidate(p.id, p.generic_name, p.specification, p.generic_name, p.code)
             for p in products])
        self.distributor_names: dict[str, int] = {}
        self.distributor_codes: dict[str, int] = {}
        for d_id, code, name in db.session.execute(select(Distributor.id, Distributor.code, Distributor.name)):
            self.distributor_codes[code] = d_id
            if d_id != distributor.id:
                self.distributor_names.setdefault(matching.normalise_name(name), d_id)
        self._lots: dict[int, dict[str, tuple[int, date]]] = {}
        self._customers: dict[tuple, Resolution] = {}
        self._products: dict[tuple, Resolution] = {}
        self._index: matching.TerminalIndex | None = None
        self.terminal_regions: dict[int, int] = dict(db.session.execute(
            select(Terminal.id, Terminal.region_id).join(CustomerAlias, CustomerAlias.terminal_id == Terminal.id)
            .where(CustomerAlias.distributor_id == distributor.id)).all())
        self.regions = region_parser()
        self.default_region = distributor.region_id  # where a new terminal of its is created by default

    # -- products ---------------------------------------------------------------------------------------------------
    def products_for(self, keys: list[tuple[str | None, str | None, str | None]]) -> dict[tuple, Resolution]:
        """(code, name, specification) → Resolution, for each distinct key."""
        todo = [k for k in dict.fromkeys(keys) if k not in self._products]
        queries, pending = [], []
        for code, name, spec in todo:
            hit = None
            if code and ("code", code) in self.product_aliases:
                hit = self.product_aliases["code", code]
            elif code and code in self.product_codes:
                hit = self.product_codes[code]
            elif name and ("name", product_key(name, spec)) in self.product_aliases:
                hit = self.product_aliases["name", product_key(name, spec)]
            if hit is not None:
                self._products[code, name, spec] = Resolution("product", hit, "code" if code else "name",
                                                              code or product_key(name, spec), method="alias")
            else:
                queries.append(matching.ProductQuery(code, name, spec))
                pending.append((code, name, spec))
        for (code, name, spec), result in zip(pending, self.product_index.match_many(queries), strict=True):
            key_kind, key = ("code", code) if code else ("name", product_key(name, spec))
            cands = tuple((pid, score, self._product_label(pid)) for pid, score in result.candidates)
            self._products[code, name, spec] = Resolution("product", result.terminal_id, key_kind, key, cands,
                                                          result.method)
        return {k: self._products[k] for k in keys}

    def _product_label(self, product_id: int) -> str:
        p = self.products[product_id]
        return f"{p.code} {p.generic_name} {p.specification}"

    def base_quantity(self, product_id: int, quantity: int, unit: str | None, known_units=None) -> int | None:
        from ingestion.cleaning import to_base_units

        p = self.products[product_id]
        return to_base_units(quantity, unit, p.base_unit, p.pack_size, known_units)

    def lots_of(self, product_ids) -> dict[int, dict[str, tuple[int, date]]]:
        """product id → {lot_no: (lot id, expires_on)} (loaded once per product)."""
        missing = [p for p in set(product_ids) if p not in self._lots]
        if missing:
            for p in missing:
                self._lots[p] = {}
            for lot_id, product_id, lot_no, expires_on in db.session.execute(
                    select(Lot.id, Lot.product_id, Lot.lot_no, Lot.expires_on).where(Lot.product_id.in_(missing))):
                self._lots[product_id][lot_no] = (lot_id, expires_on)
        return self._lots

    # -- customers and suppliers ------------------------------------------------------------------------------------
    def customers_for(self, keys: list[tuple[str | None, str | None, str | None]]) -> dict[tuple, Resolution]:
        """(code, name, region text) → Resolution (a terminal or a distributor), for each distinct key."""
        todo = [k for k in dict.fromkeys(keys) if k not in self._customers]
        queries, pending = [], []
        for code, name, region in todo:
            norm = matching.normalise_name(name) if name else ""
            hit = None
            if code and ("code", code) in self.customer_aliases:
                hit = self.customer_aliases["code", code]
            elif norm and ("name", norm) in self.customer_aliases:
                hit = self.customer_aliases["name", norm]
            elif norm and norm in self.distributor_names:
                hit = ("distributor", self.distributor_names[norm])
            if hit is not None:
                self._customers[code, name, region] = Resolution(hit[0], hit[1], "code" if code else "name",
                                                                 code or norm, method="alias")
                continue
            # only the row's own region restricts the search: the distributor's province as a default cost a third
            # of the automatic matches in bench/ingest.py (a tier-1's customers cross provinces, too)
            queries.append(matching.Query(name, None, self.regions.parse(region)))
            pending.append((code, name, region))
        if queries:
            if self._index is None:
                self._index, regions = terminal_index()
                self.terminal_regions = {**regions, **self.terminal_regions}
            # a query is the name and the parsed region: keys that differ only in how the region is written
            # (浙江省杭州市 / 杭州市) are matched once
            distinct = {(q.name, q.code, q.region_id): q for q in queries}
            found = dict(zip(distinct, self._index.match_many(list(distinct.values())), strict=True))
            results = [found[q.name, q.code, q.region_id] for q in queries]
            for (code, name, region), result in zip(pending, results, strict=True):
                key_kind, key = ("code", code) if code else ("name", matching.normalise_name(name))
                cands = tuple((tid, score) for tid, score in result.candidates)
                self._customers[code, name, region] = Resolution("terminal" if result.terminal_id else None,
                                                                 result.terminal_id, key_kind, key, cands,
                                                                 result.method)
        return {k: self._customers[k] for k in keys}

    def supplier_for(self, code: str | None, name: str | None) -> int | None:
        """A purchase line's supplier: a distributor by code or exact normalised name (None when unknown)."""
        if code and code in self.distributor_codes:
            return self.distributor_codes[code]
        if name:
            return self.distributor_names.get(matching.normalise_name(name))
        return None

    def terminal_labels(self, ids) -> dict[int, str]:
        ids = [i for i in set(ids) if i]
        if not ids:
            return {}
        return {t_id: f"{code} {name}" for t_id, code, name in db.session.execute(
            select(Terminal.id, Terminal.code, Terminal.name).where(loading.among(Terminal.id, ids)))}
