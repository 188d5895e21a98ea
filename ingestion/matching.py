"""Matching the names and codes in distributors' files to our terminals and products (pure, rapidfuzz).

Pure (no Flask, no database). The order of evidence, strongest first:

1. **alias**: the distributor's own code or name for the customer, confirmed earlier by a person (or by a previous
   automatic match) and saved; an exact hit is a match.
2. **normalised**: the name reduced by :func:`normalise_name` (brackets, 有限公司 / 连锁 / 股份, spaces,
   full-width, 第一 = 第1, 附属第一医院 = 附一院 ...) equals exactly one terminal's (within the query's region when
   it is known).
3. **fuzzy**: rapidfuzz similarity of the normalised names, restricted to the region when known, over candidates
   found by blocking (shared rare character bigrams), automatic only when the best score reaches a confident
   threshold AND leads the second candidate by a margin AND the differences touch nothing that tells two real
   terminals apart (numbers 第一 / 第二, branch names 中山路店 / 中山二路店, kinds of institution 中医院 / 医院,
   place names). Otherwise no match: the row waits for review with the top candidates.

A wrong automatic match is worse than a review: the thresholds are tuned for precision on the labelled generator
at the bottom of this module (:func:`generate_terminals`, :func:`generate_queries`, :func:`evaluate`), and the unit
tests pin precision ≥ 0.99 on it.
"""

from __future__ import annotations

import copy
import functools
import itertools
import random
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
from rapidfuzz import fuzz, process
from rapidfuzz.distance import Levenshtein

# ----------------------------------------------------------------------------------------------------------------
# Name normalisation
# ----------------------------------------------------------------------------------------------------------------

_BRACKETS = str.maketrans({c: "(" for c in "【［[〔｛{<《「『〈（"} | {c: ")" for c in "】］]〕｝}>》」』〉）"})
#: Bracketed notes that do not name anything: legal form, ownership, a former name.
_NOISE_NOTE = re.compile(r"\((?:普通合伙|有限合伙|特殊普通合伙|个体工商户|个人独资|个体|非营利|营利|民营|公立|"
                         r"原[^()]*|曾用名[^()]*|注销|停用|本部|总院|院本部)\)")
_LEGAL_FORM = re.compile(r"股份有限公司|有限责任公司|有限公司|责任公司|股份公司|集团公司|分公司|公司|连锁|股份")
_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8,
              "九": 9}
_ORDINAL = re.compile(r"第([零〇一二两三四五六七八九十百]+)")
_AFFILIATED = [
    (re.compile(r"附属第(\d+)(?:人民)?医院"), r"附\1院"),
    (re.compile(r"第(\d+)附属(?:人民)?医院"), r"附\1院"),
    (re.compile(r"附([一二三四五六七八九])(?:医)?院"), None),
    (re.compile(r"([一二三四五六七八九])附院"), None),
]
_BRANCH = re.compile(r"(?:分店|门店|加盟店|直营店|连锁店)")
_SPACES = re.compile(r"\s+")
_DROP_CHARS = re.compile(r"[\s\u3000·・.,，。、;；:：'\"“”‘’`~!！?？\-—_/\\|*#&+=()（）]+")

PROVINCES = ("北京", "天津", "上海", "重庆", "河北", "山西", "辽宁", "吉林", "黑龙江", "江苏", "浙江", "安徽",
             "福建", "江西", "山东", "河南", "湖北", "湖南", "广东", "海南", "四川", "贵州", "云南", "陕西", "甘肃",
             "青海", "台湾", "内蒙古", "广西", "西藏", "宁夏", "新疆", "香港", "澳门")
_PLACE_SUFFIX = re.compile(r"(.{2,3}?)(?:省|市|县|区)(?=.{2,})")


def _cn_number(text: str) -> int | None:
    if text.isdigit():
        return int(text)
    if text == "十":
        return 10
    if "百" in text:
        return None
    if "十" in text:
        tens, _, ones = text.partition("十")
        t = _CN_DIGITS.get(tens, 1) if tens else 1
        o = _CN_DIGITS.get(ones, 0) if ones else 0
        return t * 10 + o
    digits = [_CN_DIGITS.get(c) for c in text]
    if None in digits:
        return None
    return int("".join(str(d) for d in digits))


def _ordinal(m: re.Match) -> str:
    n = _cn_number(m[1])
    return f"第{n}" if n is not None else m[0]


@functools.lru_cache(maxsize=1 << 18)
def normalise_name(name: str | None) -> str:
    """The comparable form of a terminal / company name; idempotent (``normalise_name(normalise_name(x)) == ...``).

    NFKC (full-width → half-width) and lower case; brackets of every kind unified, notes that name nothing
    (普通合伙, 个体工商户, 原…) dropped, other bracket contents kept (they are often the branch or the city: 大参林
    (中山路店)); legal forms and 连锁 / 股份 removed wherever they stand; 分店 / 门店 → 店; Chinese ordinals to
    digits (第一 → 第1); 附属第一医院 / 第一附属医院 / 附一院 → 附1院; the 省 / 市 / 县 / 区 after leading place
    names dropped (广东省广州市第一人民医院 → 广东广州第1人民医院; the place names themselves are kept: whether
    广东 may be left out is for :class:`TerminalIndex`, which knows the regions); spaces and punctuation removed.
    """
    if not name:
        return ""
    text = str(name)
    for _ in range(4):  # to a fixed point, so that normalising twice changes nothing
        again = _normalise_once(text)
        if again == text:
            break
        text = again
    return text


def _normalise_once(text: str) -> str:
    if not text.isascii() and not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    text = _SPACES.sub("", text.lower().translate(_BRACKETS))
    if "(" in text:
        text = _NOISE_NOTE.sub("", _NOISE_NOTE.sub("", text))
    if "公司" in text or "连锁" in text or "股份" in text:
        text = _LEGAL_FORM.sub("", text)
    if "店" in text:
        text = _BRANCH.sub("店", text).replace("大药店", "药店")
    if "大药房" in text:
        text = text.replace("大药房", "药房")
    if "第" in text:
        text = _ORDINAL.sub(_ordinal, text)
    if "附" in text:
        text = _AFFILIATED[0][0].sub(_AFFILIATED[0][1], text)
        text = _AFFILIATED[1][0].sub(_AFFILIATED[1][1], text)
        text = _AFFILIATED[2][0].sub(lambda m: f"附{_CN_DIGITS[m[1]]}院", text)
        text = _AFFILIATED[3][0].sub(lambda m: f"附{_CN_DIGITS[m[1]]}院", text)
    text = _DROP_CHARS.sub("", text)
    # the 省 / 市 / 县 / 区 after up to three leading place names (广东省广州市番禺区 → 广东广州番禺)
    pos = 0
    for _ in range(3):
        m = _PLACE_SUFFIX.match(text, pos)
        if not m:
            break
        text = text[:pos] + m[1] + text[m.end():]
        pos += len(m[1])
    return text


# ----------------------------------------------------------------------------------------------------------------
# Places
# ----------------------------------------------------------------------------------------------------------------

_PLACE_ENDINGS = ("特别行政区", "维吾尔自治区", "壮族自治区", "回族自治区", "自治区", "自治州", "自治县", "自治旗",
                  "地区", "省", "市", "盟", "县", "区", "旗")


def short_place(name: str | None) -> str:
    """A region's name without its administrative ending (广州市 → 广州, 广西壮族自治区 → 广西, 番禺区 → 番禺);
    a name that would fall under two characters is kept whole (城区); placeholders (市辖区, 县) give ''."""
    text = unicodedata.normalize("NFKC", name or "").strip().lower()
    if text in ("市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划"):
        return ""
    for ending in _PLACE_ENDINGS:
        if text.endswith(ending) and len(text) - len(ending) >= 2:
            return text[: -len(ending)]
    return text


def _strip_places(key: str, spellings: Mapping[str, str], allowed: Set[str] | None = None
                  ) -> tuple[str, frozenset[str]]:
    """Strip leading place names from a normalised name: (core, short names stripped). ``spellings`` maps each
    spelling (广州市, 广州) to its short name; with ``allowed`` only those short names are stripped. A core of
    fewer than two characters is not stripped further."""
    places = set()
    while True:
        if key[:2] not in spellings.get(_HEADS, ()):  # no place name starts with these two characters
            return key, frozenset(places)
        for k in range(min(len(key) - 2, _LONGEST_PLACE), 1, -1):
            short = spellings.get(key[:k])
            if short is not None and (allowed is None or short in allowed):
                key = key[k:]
                places.add(short)
                break
        else:
            return key, frozenset(places)


_LONGEST_PLACE = 10
_HEADS = "\x00heads"  # key of the spellings map holding the set of the spellings' first two characters


def _spellings(names: Iterable[str]) -> dict[str, str]:
    """Spelling → short name for region names, full (广州市) and short (广州); placeholders are left out."""
    out = {}
    for name in names:
        short = short_place(name)
        if short:
            out.setdefault(short, short)
            out.setdefault(unicodedata.normalize("NFKC", name).strip().lower(), short)
            out.setdefault(normalise_name(name), short)
    out[_HEADS] = frozenset(k[:2] for k in out)
    return out


# ----------------------------------------------------------------------------------------------------------------
# Terminals
# ----------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """A terminal (or tier-2 distributor) that a customer name may match; ``region_ids`` = (county, city, province),
    any of them None when unknown."""

    id: int
    name: str
    region_ids: tuple[int | None, ...] = ()


@dataclass(frozen=True)
class Query:
    """A customer as a file names it; ``region_id`` (county, city or province) restricts the search when known."""

    name: str | None
    code: str | None = None
    region_id: int | None = None


@dataclass(frozen=True)
class MatchResult:
    """``terminal_id`` is set only for an automatic match (``method`` says by what); ``candidates`` lists the best
    (id, score) pairs, best first, for a person to review (also filled for an automatic fuzzy match)."""

    terminal_id: int | None
    score: float
    method: str | None  # 'alias' | 'normalised' | 'fuzzy' | None
    candidates: list[tuple[int, float]] = field(default_factory=list)

    @property
    def matched(self) -> bool:
        return self.terminal_id is not None


#: An automatic fuzzy match needs at least this score (rapidfuzz ratio of normalised names, 0..100) ...
AUTO_SCORE = 85.0
#: ... and this lead over the best other terminal ...
AUTO_MARGIN = 6.0
#: ... and no difference outside the generic words (see :func:`distinguishing_edit`).
#: Candidates below this score are not shown for review.
REVIEW_SCORE = 50.0
#: How many candidates a review shows.
TOP_CANDIDATES = 5
#: Blocking: a bigram held by more terminals than this is too common to find candidates by (人民, 医院, 药房).
RARE_BIGRAM = 300
#: Blocking: how many candidates (by shared bigrams) are scored per query; a region this small is scored whole.
BLOCK_SIZE = 60
#: Queries of a region with at most this many terminals are scored against all of them in one batch.
DIRECT_REGION = 5_000
#: A batch of at least this many pairs is scored on all cores; a smaller one on the calling thread (starting
#: rapidfuzz's threads costs about 0.2 ms a call, more than scoring 20,000 pairs, and during a load the other
#: core is PostgreSQL's).
THREADED_PAIRS = 250_000

#: Words that do not identify a terminal: a difference (or a typo) inside them is no reason to doubt a match.
#: Everything else — place and brand names, ordinals and numbers, branch names, kinds of institution (中医, 妇幼,
#: 人民 ...), 路 / 街 — identifies, and any difference there sends the row to review.
_GENERIC = re.compile(r"社区卫生服务中心|社区卫生服务站|卫生服务中心|卫生服务站|药房|药店|药业|医药|"
                      r"医院|卫生院|诊所|医疗|有限|责任|公司|集团|店$")


_ADMIN = frozenset({"省", "市", "区", "县"})


#: Commercial words that do not tell two shops of one brand apart (大参林医药 / 大参林药房 中山路店): a core
#: (the name the place rules compare) leaves them out. Kinds of institution (医院 / 卫生院 / 诊所) stay.
_COMMERCIAL = re.compile(r"药房|药店|药业|医药|有限|责任|公司|集团")


def _identity_core(core: str) -> str:
    stripped = _COMMERCIAL.sub("", core)
    return stripped if len(stripped) >= 2 else core


def _bigrams(text: str) -> set[str]:
    return {text[i:i + 2] for i in range(len(text) - 1)} if len(text) > 1 else {text}


def _generic_mask(text: str) -> list[bool]:
    mask = [False] * len(text)
    for m in _GENERIC.finditer(text):
        for i in range(*m.span()):
            mask[i] = True
    return mask


def distinguishing_edit(query: str, master: str) -> bool:
    """Whether turning normalised name ``query`` into ``master`` changes anything outside the generic words of the
    master name (医院, 药房, 诊所, 有限, 公司 ...): a different number, branch, kind of institution, place or brand
    means a different terminal as often as a typo does, so such a pair is never matched automatically. A typo
    inside a generic word (医阮 for 医院) is allowed: what counts is that the master's text there is generic."""
    generic_q, generic_m = _generic_mask(query), _generic_mask(master)
    for op in Levenshtein.opcodes(query, master):
        if op.tag == "equal":
            continue
        if op.tag != "replace" and (query[op.src_start:op.src_end] or master[op.dest_start:op.dest_end]) in _ADMIN:
            continue  # 深圳市福田区 / 深圳福田区: an administrative ending alone
        if op.tag == "delete":  # text the query has and the master has not
            if not all(generic_q[op.src_start:op.src_end]):
                return True
        elif not all(generic_m[op.dest_start:op.dest_end]):  # replace / insert: the master's text must be generic
            return True
    return False


class TerminalIndex:
    """An index of terminals (and the distributor's aliases) to match many customer names at once.

    ``region_names`` (region id → name, e.g. 广州市) lets matching look past the place names in front of a name
    (广东省, 广州市, 番禺区): with the row's region 广州, 第一人民医院 finds 广州市第一人民医院. Two rules keep that
    safe: every place the terminal's name mentions must be mentioned by the row's name too or be the row's own
    region (第一人民医院 in 广州 is not 广州市番禺区第一人民医院, nor 广东省人民医院); and every place the row's name
    mentions must be mentioned by the terminal's name or be a region the terminal is in (浙江省老百姓大药房竹园路店
    is 老百姓大药房竹园路店 only if that shop is in 浙江). Without ``region_names`` only whole normalised names are
    compared.
    """

    def __init__(self, terminals: Iterable[Candidate], aliases: Iterable[tuple[str, int]] = (), *,
                 region_names: Mapping[int, str] | None = None):
        self.terminals: list[Candidate] = list(terminals)
        self.region_names = dict(region_names or {})
        self._spell = _spellings(self.region_names.values())
        self._short = {r: short_place(n) for r, n in self.region_names.items()}
        self.keys: list[str] = [normalise_name(t.name) for t in self.terminals]
        self._by_key: dict[str, list[int]] = defaultdict(list)
        self._by_core: dict[str, list[int]] = defaultdict(list)
        self._by_region: dict[int, list[int]] = defaultdict(list)
        self._parents: dict[int, tuple[int, ...]] = {}
        self._postings: dict[str, list[int]] = defaultdict(list)
        self.cores: list[str] = []
        self.places: list[frozenset[str]] = []  # places the terminal's name mentions (short names)
        self.levels: list[dict[str, int]] = []  # short name of each region the terminal is in → 0 county .. 2
        self.specific: list[str | None] = []  # the most specific place its name mentions
        for i, (t, key) in enumerate(zip(self.terminals, self.keys, strict=True)):
            ids = [r for r in t.region_ids if r is not None]
            for depth, r in enumerate(ids):
                self._by_region[r].append(i)
                self._parents.setdefault(r, tuple(ids[depth + 1:]))
            levels = {self._short[r]: level for level, r in enumerate(t.region_ids)
                      if r is not None and self._short.get(r)}
            core, places = _strip_places(key, self._spell, set(levels)) if levels else (key, frozenset())
            core = _identity_core(core)
            self.cores.append(core)
            self.places.append(places)
            self.levels.append(levels)
            self.specific.append(min(places, key=levels.__getitem__) if places else None)
            if key:
                self._by_key[key].append(i)
                self._by_core[core].append(i)
            for g in _bigrams(key) | _bigrams(core):
                self._postings[g].append(i)
        self._postings_np = {g: np.asarray(p, dtype=np.int32) for g, p in self._postings.items()}
        self._keys_np = np.array(self.keys, dtype=object)  # a block's names by fancy indexing, not a list loop
        self._cores_np = np.array(self.cores, dtype=object)
        del self._postings
        self._region_of = np.full((3, len(self.terminals)), -1, dtype=np.int64)  # county, city, province ids
        for i, t in enumerate(self.terminals):
            for level, r in enumerate(t.region_ids[:3]):
                if r is not None:
                    self._region_of[level, i] = r
        self._by_core_region: dict[tuple[str, int], list[int]] = defaultdict(list)
        self._by_core_places: dict[tuple[str, frozenset[str]], list[int]] = defaultdict(list)
        for core, members in self._by_core.items():
            for i in members:
                self._by_core_places[(core, self.places[i])].append(i)
                for r in self.terminals[i].region_ids:
                    if r is not None:
                        self._by_core_region[(core, r)].append(i)
        self._region_choices: dict[int, tuple[list[str], list[str]]] = {}  # region → its keys, cores (lazily)
        self._aliases: dict[str, int] = {}
        self._alias_keys: dict[str, int | None] = {}
        for text, terminal_id in aliases:
            self.add_alias(text, terminal_id)

    def with_aliases(self, aliases: Iterable[tuple[str, int]]) -> TerminalIndex:
        """A copy sharing this index's terminals (the expensive part) with ``aliases`` instead of its own: build
        the terminal index once, then one cheap copy per distributor's alias table."""
        other = copy.copy(self)
        other._aliases, other._alias_keys = {}, {}
        for text, terminal_id in aliases:
            other.add_alias(text, terminal_id)
        return other

    def add_alias(self, text: str, terminal_id: int) -> None:
        """Remember a confirmed code or name → terminal (an alias normalising to two terminals matches neither)."""
        raw = (text or "").strip()
        if not raw:
            return
        self._aliases[raw] = terminal_id
        key = normalise_name(raw)
        if key:
            previous = self._alias_keys.get(key, terminal_id)
            self._alias_keys[key] = terminal_id if previous == terminal_id else None

    # -- matching ------------------------------------------------------------------------------------------------

    def match(self, query: Query) -> MatchResult:
        return self.match_many([query])[0]

    def match_many(self, queries: Sequence[Query]) -> list[MatchResult]:
        """One :class:`MatchResult` per query, in order (identical queries are matched once).

        The fuzzy stage is batched: the queries of one region are scored against that region's terminals in one
        rapidfuzz ``cdist`` call (C++, both cores); queries without a region (or in a very large one) are
        blocked by rare character bigrams one by one."""
        unique = list(dict.fromkeys(queries))
        done: dict[Query, MatchResult] = {}
        fuzzy: dict[int | None, list[tuple[Query, _Context]]] = defaultdict(list)
        for q in unique:
            result = self._match_exact(q)
            if isinstance(result, MatchResult):
                done[q] = result
            else:
                fuzzy[q.region_id if q.region_id in self._by_region else None].append((q, result))
        for region, items in fuzzy.items():
            members = self._by_region.get(region, []) if region is not None else []
            if region is not None and len(members) <= DIRECT_REGION:
                block = np.asarray(members, dtype=np.int32)
                choices = self._region_choices.get(region)
                if choices is None:  # built once per region, not once per region and chunk of a file
                    choices = self._region_choices.setdefault(
                        region, ([self.keys[i] for i in members], [self.cores[i] for i in members]))
                workers = -1 if len(items) * len(members) >= THREADED_PAIRS else 1
                keys = process.cdist([c.key for _, c in items], choices[0], scorer=fuzz.ratio, dtype=np.float32,
                                     workers=workers)
                cores = process.cdist([c.core for _, c in items], choices[1], scorer=fuzz.ratio,
                                      dtype=np.float32, workers=workers)
                for row, (q, ctx) in enumerate(items):
                    done[q] = self._decide(ctx, block, keys[row], cores[row])
            else:
                for q, ctx in items:
                    done[q] = self._fuzzy(ctx)
        return [done[q] for q in queries]

    def _in_region(self, i: int, region_id: int | None) -> bool:
        return region_id is None or region_id in self.terminals[i].region_ids

    def _ids(self, found: Iterable[int], score: float) -> list[tuple[int, float]]:
        return [(self.terminals[i].id, score) for i in list(found)[:TOP_CANDIDATES]]

    def _match_one(self, q: Query) -> MatchResult:
        result = self._match_exact(q)
        return result if isinstance(result, MatchResult) else self._fuzzy(result)

    def _match_exact(self, q: Query) -> MatchResult | _Context:
        """Alias, normalised name and place-aware core: a result, or the context for the fuzzy stage."""
        code = (q.code or "").strip()
        if code and code in self._aliases:
            return MatchResult(self._aliases[code], 100.0, "alias", [(self._aliases[code], 100.0)])
        raw = (q.name or "").strip()
        if raw and raw in self._aliases:
            return MatchResult(self._aliases[raw], 100.0, "alias", [(self._aliases[raw], 100.0)])
        key = normalise_name(raw)
        if not key:
            return MatchResult(None, 0.0, None, [])
        alias_id = self._alias_keys.get(key)
        if alias_id is not None:
            return MatchResult(alias_id, 100.0, "alias", [(alias_id, 100.0)])
        region = q.region_id
        exact = [i for i in self._by_key.get(key, ()) if self._in_region(i, region)]
        if len(exact) == 1:
            return MatchResult(self.terminals[exact[0]].id, 100.0, "normalised", self._ids(exact, 100.0))
        if len(exact) > 1:  # the same normalised name twice in the region: a person decides
            return MatchResult(None, 100.0, None, self._ids(exact, 100.0))
        ctx = _Context(key, region)
        core, ctx.places = _strip_places(key, self._spell) if self.region_names else (key, frozenset())
        ctx.core = _identity_core(core)
        if region is not None and self.region_names:
            chain = [region, *self._parents.get(region, ())]
            ctx.own = frozenset({self._short.get(region, "")} - {""})
            ctx.chain = frozenset(self._short[r] for r in chain if self._short.get(r))
        if region is None:  # the terminal's places must all be in the row's name: look them up by subset
            pool = [i for sub in _subsets(ctx.places) for i in self._by_core_places.get((ctx.core, sub), ())]
        else:
            pool = self._by_core_region.get((ctx.core, region), ())
        same = [i for i in pool if self._covers(ctx, i)]
        if len(same) == 1:
            return MatchResult(self.terminals[same[0]].id, 100.0, "normalised", self._ids(same, 100.0))
        if len(same) > 1:
            return MatchResult(None, 100.0, None, self._ids(same, 100.0))
        return ctx

    def _covers(self, ctx: _Context, i: int) -> bool:
        """The place rules of the class docstring: may the cores of the row and of terminal ``i`` be compared?

        Places the terminal's name mentions and the row's does not must lie on the row's region chain, and the
        most specific of them must be the row's own region or be mentioned by the row. Places the row mentions
        and the terminal's name does not must be regions the terminal is in, above the most specific place its
        name mentions (广东省 may be added to 广州市第一人民医院; 石岐区 may not: that would be a district's
        hospital, not the city's)."""
        places, levels, specific = self.places[i], self.levels[i], self.specific[i]
        missing = places - ctx.places
        if missing and (not missing <= ctx.chain or specific not in (ctx.places or ctx.own)):
            return False
        floor = levels[specific] if specific is not None else -1
        return all(levels.get(p, -1) > floor for p in ctx.places - places)

    def _block(self, ctx: _Context) -> np.ndarray:
        """Candidates for fuzzy scoring: a small region whole, otherwise the terminals sharing the most of the
        query's rarer character bigrams (within the region when known)."""
        if ctx.region is not None:
            members = self._by_region.get(ctx.region, [])
            if len(members) <= BLOCK_SIZE:
                return np.asarray(members, dtype=np.int32)
        postings = sorted((p for g in _bigrams(ctx.key) | _bigrams(ctx.core)
                           if (p := self._postings_np.get(g)) is not None), key=len)
        chosen = [p for n, p in enumerate(postings) if len(p) <= RARE_BIGRAM or n < 2]
        if not chosen:
            return np.empty(0, dtype=np.int32)
        pool = np.concatenate([p[: RARE_BIGRAM * 20] for p in chosen])
        if ctx.region is not None:
            r = self._region_of
            pool = pool[(r[0, pool] == ctx.region) | (r[1, pool] == ctx.region) | (r[2, pool] == ctx.region)]
        if not len(pool):
            return pool
        ids, counts = np.unique(pool, return_counts=True)
        if len(ids) > BLOCK_SIZE:
            ids = ids[np.argpartition(-counts, BLOCK_SIZE)[:BLOCK_SIZE]]
        return ids

    def _fuzzy(self, ctx: _Context) -> MatchResult:
        block = self._block(ctx)
        if not len(block):
            return MatchResult(None, 0.0, None, [])
        keys = process.cdist([ctx.key], self._keys_np[block].tolist(), scorer=fuzz.ratio, dtype=np.float32)[0]
        cores = process.cdist([ctx.core], self._cores_np[block].tolist(), scorer=fuzz.ratio, dtype=np.float32)[0]
        return self._decide(ctx, block, keys, cores)

    def _decide(self, ctx: _Context, block: np.ndarray, keys: np.ndarray, cores: np.ndarray | None) -> MatchResult:
        """Rank ``block`` by score (the core score counts only where the place rules allow comparing cores) and
        decide: automatic only above AUTO_SCORE, AUTO_MARGIN ahead of the next, with no distinguishing edit."""
        if not len(block):
            return MatchResult(None, 0.0, None, [])
        rough = np.maximum(keys, cores) if cores is not None else keys
        top = np.argsort(-rough, kind="stable")[: TOP_CANDIDATES * 2]
        ranked = []
        for j in top:
            i = int(block[j])
            score, pair = float(keys[j]), (ctx.key, self.keys[i])
            if cores is not None and cores[j] > keys[j] and self._covers(ctx, i):
                score, pair = float(cores[j]), (ctx.core, self.cores[i])
            ranked.append((score, i, pair))
        ranked.sort(key=lambda r: -r[0])
        candidates = [(self.terminals[i].id, round(sc, 1)) for sc, i, _ in ranked[:TOP_CANDIDATES]
                      if sc >= REVIEW_SCORE]
        best, best_i, pair = ranked[0]
        second = ranked[1][0] if len(ranked) > 1 else 0.0
        if best >= AUTO_SCORE and best - second >= AUTO_MARGIN and not distinguishing_edit(*pair):
            return MatchResult(self.terminals[best_i].id, round(best, 1), "fuzzy", candidates)
        return MatchResult(None, round(best, 1), None, candidates)


@functools.lru_cache(maxsize=4096)
def _subsets(places: frozenset[str]) -> tuple[frozenset[str], ...]:
    items = sorted(places)[:4]
    return tuple(frozenset(c) for n in range(len(items) + 1) for c in itertools.combinations(items, n))


@dataclass
class _Context:
    """What one query brings to matching: its normalised name, its core (places stripped) and the places."""

    key: str
    region: int | None
    core: str = ""
    places: frozenset[str] = frozenset()  # places the row's name mentions
    own: frozenset[str] = frozenset()  # the row's region (short name)
    chain: frozenset[str] = frozenset()  # the row's region and the regions above it

    def __post_init__(self):
        self.core = self.core or self.key


# ----------------------------------------------------------------------------------------------------------------
# Products
# ----------------------------------------------------------------------------------------------------------------

_SPEC_DROP = re.compile(r"[\s*×xX/:：,，;；()（）\[\]【】]+")
_SPEC_AMOUNT = re.compile(r"(\d+(?:\.\d+)?)\s*([a-zμ%]+|[^\d\s.*×xX/:：,，;；()（）\[\]【】]?)")
_SPEC_UNITS = {"毫克": "mg", "克": "g", "毫升": "ml", "微克": "μg", "升": "l", "国际单位": "iu", "万单位": "万u",
               "ug": "μg", "mcg": "μg", "iu": "iu"}
_TO_BASE = {"g": ("mg", 1000), "mg": ("mg", 1), "μg": ("mg", Decimal("0.001")), "kg": ("mg", 1_000_000),
            "l": ("ml", 1000), "ml": ("ml", 1)}


def normalise_spec(spec: str | None) -> str:
    """A specification as compared: half-width, lower case, no spaces or separators (0.25g*24片 = 0.25g24片)."""
    if not spec:
        return ""
    text = unicodedata.normalize("NFKC", str(spec)).lower()
    for word, unit in _SPEC_UNITS.items():
        text = text.replace(word, unit)
    return _SPEC_DROP.sub("", text)


def spec_key(spec: str | None) -> tuple[tuple[str, str], ...]:
    """The amounts of a specification, units made comparable: 0.25g*24粒 = 250mg×24粒 = ((250, mg), (24, 粒)).

    Two specifications with different keys are different products (a different strength or pack count), whatever
    their spelling; an empty specification gives ()."""
    if not spec:
        return ()
    text = unicodedata.normalize("NFKC", str(spec)).lower()
    for word, unit in _SPEC_UNITS.items():
        text = text.replace(word, unit)
    text = re.sub(r"[×*]|x(?=\d)", " ", text)
    amounts = []
    for number, unit in _SPEC_AMOUNT.findall(text):
        value = Decimal(number)
        unit = unit or ""
        if unit in _TO_BASE:
            unit, factor = _TO_BASE[unit]
            value *= factor
        amounts.append((format(value.normalize(), "f"), unit))
    return tuple(sorted(amounts))


@dataclass(frozen=True)
class ProductCandidate:
    """One of our products: its name, specification, generic name (通用名) and our own code."""

    id: int
    name: str
    specification: str | None = None
    generic_name: str | None = None
    code: str | None = None  # our own product code


@dataclass(frozen=True)
class ProductQuery:
    """A product as a distributor's line names it: its code for it, its name, its specification."""

    code: str | None
    name: str | None
    specification: str | None = None


#: Products are matched more strictly than terminals: a wrong product corrupts stock and coverage figures.
PRODUCT_AUTO_SCORE = 90.0
PRODUCT_AUTO_MARGIN = 10.0


class ProductIndex:
    """Products by the distributor's code alias, then our own code, then (normalised name + specification amounts)
    exactly, then — among our products of the same generic name (通用名) — the one whose specification amounts are
    the same (0.25g*24粒 = 250mg×24粒), then fuzzy over name + specification with strict thresholds and never across
    different strengths or pack counts. Everything else goes to review with candidates."""

    def __init__(self, products: Iterable[ProductCandidate], aliases: Iterable[tuple[str, int]] = ()):
        self.products = list(products)
        self._aliases: dict[str, int] = {}
        for text, pid in aliases:
            self.add_alias(text, pid)
        self._codes = {p.code.strip(): p.id for p in self.products if p.code and p.code.strip()}
        self._by_name_spec: dict[tuple[str, tuple], list[int]] = defaultdict(list)
        self._generics: list[str] = []
        self._specs: list[tuple] = []
        self._keys: list[str] = []
        for i, p in enumerate(self.products):
            name, spec = normalise_name(p.name), spec_key(p.specification)
            self._by_name_spec[(name, spec)].append(i)
            self._generics.append(normalise_name(p.generic_name) or name)
            self._specs.append(spec)
            self._keys.append(f"{name}|{normalise_spec(p.specification)}")

    def add_alias(self, text: str, product_id: int) -> None:
        """Remember the distributor's code (or exact name) for one of our products."""
        if text and text.strip():
            self._aliases[text.strip()] = product_id

    def match(self, query: ProductQuery) -> MatchResult:
        return self.match_many([query])[0]

    def match_many(self, queries: Sequence[ProductQuery]) -> list[MatchResult]:
        """One :class:`MatchResult` per query, in order (identical queries are matched once)."""
        cache: dict[ProductQuery, MatchResult] = {}
        out = []
        for q in queries:
            if q not in cache:
                cache[q] = self._match_one(q)
            out.append(cache[q])
        return out

    def _result(self, i: int, score: float, method: str) -> MatchResult:
        pid = self.products[i].id
        return MatchResult(pid, score, method, [(pid, score)])

    def _match_one(self, q: ProductQuery) -> MatchResult:
        code = (q.code or "").strip()
        for table in (self._aliases, self._codes):
            if code and code in table:
                return MatchResult(table[code], 100.0, "alias", [(table[code], 100.0)])
        name_raw = (q.name or "").strip()
        if name_raw in self._aliases:
            return MatchResult(self._aliases[name_raw], 100.0, "alias", [(self._aliases[name_raw], 100.0)])
        name, spec = normalise_name(q.name), spec_key(q.specification)
        if not name:
            return MatchResult(None, 0.0, None, [])
        exact = self._by_name_spec.get((name, spec), [])
        if len(exact) == 1:
            return self._result(exact[0], 100.0, "normalised")
        # our products of the same generic name: the query's name holds it (阿莫仙 阿莫西林胶囊) or is held by it
        pool = [i for i, g in enumerate(self._generics) if len(g) >= 2 and (g in name or name in g)]
        same_spec = [i for i in pool if spec and self._specs[i] == spec]
        if len(same_spec) == 1:
            return self._result(same_spec[0], round(float(fuzz.ratio(name, self._generics[same_spec[0]])), 1),
                                "normalised")
        if not spec and len(pool) == 1:  # no specification given, and we make one product of that name
            return self._result(pool[0], round(float(fuzz.ratio(name, self._generics[pool[0]])), 1), "normalised")
        scope = pool or range(len(self.products))
        key = f"{name}|{normalise_spec(q.specification)}"
        scored = sorted(((float(fuzz.ratio(key, self._keys[i])), i) for i in scope), reverse=True)[:TOP_CANDIDATES]
        candidates = [(self.products[i].id, round(s, 1)) for s, i in scored if s >= REVIEW_SCORE]
        if not scored:
            return MatchResult(None, 0.0, None, [])
        best, best_i = scored[0]
        second = scored[1][0] if len(scored) > 1 else 0.0
        if (best >= PRODUCT_AUTO_SCORE and best - second >= PRODUCT_AUTO_MARGIN and spec
                and self._specs[best_i] == spec):
            return MatchResult(self.products[best_i].id, round(best, 1), "fuzzy", candidates)
        return MatchResult(None, round(best, 1), None, candidates)


# ----------------------------------------------------------------------------------------------------------------
# Labelled generator and precision / recall (used by the unit tests, bench/match.py and bench/ingest.py)
# ----------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Place:
    """A county with its city and province (full names, 广东省 / 广州市 / 番禺区) and ids (county, city, province)."""

    province: str
    city: str
    county: str
    ids: tuple[int, int, int]


def places_from_regions(provinces: Iterable[tuple[str, str]], cities: Iterable[tuple[str, str, str]],
                        counties: Iterable[tuple[str, str, str, str]]) -> list[Place]:
    """Places from GB/T 2260 rows: provinces (code, name), cities (code, name, province code), counties (code, name,
    city code, province code), e.g. the CSV files of ../shared/data/regions. Ids are the integer codes; the
    municipalities' 市辖区 placeholder city takes the province's name."""
    prov = {code: name for code, name in provinces}
    city = {code: (name, pcode) for code, name, pcode in cities}
    out = []
    for code, name, ccode, pcode in counties:
        cname = city.get(ccode, ("", pcode))[0]
        if not cname or cname in ("市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划"):
            cname = prov.get(pcode, "")
        if name in ("市辖区",) or not cname:
            continue
        out.append(Place(prov.get(pcode, ""), cname, name, (int(code), int(ccode), int(pcode))))
    return out


_DEFAULT_PLACES = {
    ("广东省", 44): {("广州市", 4401): ("越秀区", "天河区", "番禺区", "白云区", "花都区", "增城区"),
                  ("深圳市", 4403): ("福田区", "罗湖区", "南山区", "宝安区", "龙岗区"),
                  ("佛山市", 4406): ("禅城区", "南海区", "顺德区"), ("中山市", 4420): ("石岐区", "东区")},
    ("湖南省", 43): {("长沙市", 4301): ("芙蓉区", "岳麓区", "开福区", "长沙县", "宁乡市"),
                  ("株洲市", 4302): ("天元区", "醴陵市", "攸县"), ("常德市", 4307): ("武陵区", "桃源县")},
    ("湖北省", 42): {("武汉市", 4201): ("江岸区", "武昌区", "洪山区", "江夏区"), ("宜昌市", 4205): ("西陵区",
     "夷陵区")},
    ("浙江省", 33): {("杭州市", 3301): ("上城区", "西湖区", "余杭区", "萧山区"), ("宁波市", 3302): ("海曙区", "鄞州区"),
                  ("温州市", 3303): ("鹿城区", "瑞安市")},
    ("四川省", 51): {("成都市", 5101): ("锦江区", "武侯区", "双流区", "都江堰市"), ("绵阳市", 5107): ("涪城区",
     "江油市")},
    ("山东省", 37): {("济南市", 3701): ("历下区", "市中区", "章丘区"), ("青岛市", 3702): ("市南区", "黄岛区",
     "即墨区")},
}
#: A small built-in set of places (real names, synthetic ids) for tests that do not read ../shared.
DEFAULT_PLACES: tuple[Place, ...] = tuple(
    Place(pname, cname, county, (cid * 100 + k + 1, cid, pid))
    for (pname, pid), cities in _DEFAULT_PLACES.items()
    for (cname, cid), counties in cities.items()
    for k, county in enumerate(counties))


def region_names(places: Iterable[Place]) -> dict[int, str]:
    """Region id → name for :class:`TerminalIndex` (``region_names=``)."""
    out: dict[int, str] = {}
    for p in places:
        out[p.ids[0]], out[p.ids[1]], out[p.ids[2]] = p.county, p.city, p.province
    return out


_CN = "零一二三四五六七八九十"
_ROADS = ("中山", "人民", "解放", "建设", "和平", "胜利", "新华", "光明", "长江", "黄河", "东风", "朝阳", "文化",
          "青年",
          "学府", "滨江", "幸福", "迎宾", "工业", "友谊", "五一", "八一", "红旗", "府前", "体育",
          "健康", "花园", "南湖", "北京", "上海", "延安", "南京", "民主", "团结", "复兴", "振兴", "湘江", "珠江",
           "环城",
          "东湖", "西湖", "金沙", "银河", "星光", "龙华", "凤凰", "桂花", "紫荆", "芙蓉", "梅林", "松山", "竹园",
           "翠竹",
          "锦绣", "万达", "天河", "白云", "新城", "开发")
_ROAD_KINDS = ("路", "大道", "街", "东路", "西路", "南路", "北路", "中路")
_CHAINS = ("大参林", "老百姓", "益丰", "一心堂", "国大", "海王星辰", "漱玉平民", "健之佳", "九州通", "百姓缘", "华润堂",
           "同仁堂", "张仲景", "养天和", "怡康", "开心人", "瑞人堂", "海川", "仁和", "万民", "济民可信", "第一医药")
_SHOP_WORDS = ("仁和", "康宁", "福寿", "同济", "百草", "惠民", "德仁", "济世", "保和", "安康", "长寿", "益寿", "永康",
               "春天", "杏林", "回春", "博爱", "仁爱", "天和", "众康", "民生", "健民", "百信", "恒安", "泰康", "宏济")
_UNIVERSITIES = ("中山大学", "中南大学湘雅", "南方医科大学", "华中科技大学同济医学院", "浙江大学医学院", "四川大学华西",
                 "山东大学齐鲁", "武汉大学人民", "广州医科大学", "温州医科大学", "青岛大学", "暨南大学")
_TOWNS = ("石楼", "新造", "化龙", "南村", "大岗", "榄核", "东涌", "太和", "钟落潭", "人和", "江高", "新华", "狮岭",
          "炭步",
          "赤坭", "梯面", "永宁", "石滩", "派潭", "正果", "荔城", "沙埔", "金峰", "黄花", "榔梨", "星沙", "安沙",
           "北山",
          "花明楼", "道林", "流沙河", "大成桥", "双江口", "灰汤", "青山桥", "横市", "黄材", "龙田", "煤炭坝", "夏铎铺")
_STREETS = ("东山", "农林", "梅花村", "黄花岗", "大塘", "珠江", "白云", "建设", "华乐", "登峰", "洪桥", "六榕", "光塔",
            "人民", "北京", "流花", "诗书", "五羊", "龙津", "金花", "西关", "沙面", "岭南", "华林", "多宝", "昌华")
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
_GIVEN = ("建国", "志强", "秀英", "丽华", "国庆", "海涛", "春梅", "明", "伟", "芳", "敏", "静", "军", "磊", "洋", "勇",
          "艳", "杰", "娟", "涛", "超", "霞", "平", "刚", "桂英", "玉兰", "德华", "卫东", "红梅", "晓东")
_HOSPITAL_KINDS = ("中医院", "中西医结合医院", "儿童医院", "妇幼保健院", "肿瘤医院", "口腔医院", "精神卫生中心",
                   "骨科医院", "眼科医院", "康复医院", "传染病医院", "第一人民医院", "第二人民医院", "第三人民医院")
#: Characters a hurried typist or an OCR pass puts in place of others.
_TYPOS = {"医": "衣", "院": "阮", "药": "要", "房": "方", "人": "入", "民": "名", "州": "洲", "山": "三", "店": "点",
          "堂": "唐", "康": "糠", "仁": "任", "和": "合", "中": "钟", "华": "化", "大": "太", "城": "成", "区": "曲",
          "心": "新", "卫": "为", "生": "声", "服": "福", "务": "物", "诊": "珍", "所": "索", "路": "露", "街": "阶"}


def _shop_branch(rng: random.Random) -> str:
    branch = rng.choice(_ROADS) + rng.choice(_ROAD_KINDS)
    roll = rng.random()
    if roll < 0.35:
        branch += f"{rng.randint(1, 999)}号"
    elif roll < 0.5:
        branch += f"{_CN[rng.randint(2, 9)]}"
    return branch + "店"


def _city_prefix(place: Place) -> str:
    """广州市 as names write it: the short name + 市 for a city, the full name for a prefecture (凉山彝族自治州)."""
    return f"{short_place(place.city)}市" if place.city.endswith("市") else place.city


def _terminal_name(rng: random.Random, place: Place) -> str:
    pv, ct, city = short_place(place.province), place.county, _city_prefix(place)
    cy = short_place(place.city)
    roll = rng.random()
    if roll < 0.10:
        return f"{city}{rng.choice(_HOSPITAL_KINDS)}"
    if roll < 0.16:
        return f"{ct}{rng.choice(('人民医院', '中医院', '妇幼保健院', '第二人民医院'))}"
    if roll < 0.18:
        return f"{pv}省{rng.choice(('人民医院', '中医院', '妇幼保健院', '肿瘤医院', '第二人民医院'))}"
    if roll < 0.20:
        return f"{rng.choice(_UNIVERSITIES)}附属第{_CN[rng.randint(1, 8)]}医院"
    if roll < 0.28:
        return f"{ct}{rng.choice(_TOWNS)}镇卫生院"
    if roll < 0.38:
        return f"{city}{ct}{rng.choice(_STREETS)}街道社区卫生服务中心"
    if roll < 0.46:
        return f"{short_place(ct)}{rng.choice(_SURNAMES)}{rng.choice(_GIVEN)}诊所"
    if roll < 0.50:
        return f"{cy}{rng.choice(_SHOP_WORDS)}口腔门诊部"
    if roll < 0.78:
        form = rng.choice(("大药房连锁有限公司", "医药连锁有限公司", "大药房", "药房连锁股份有限公司"))
        return f"{rng.choice(_CHAINS)}{form}{cy if rng.random() < 0.4 else ''}{_shop_branch(rng)}"
    if roll < 0.92:
        return f"{city}{rng.choice(_SHOP_WORDS)}{rng.choice(('堂', ''))}大药房有限公司"
    return f"{short_place(ct)}{rng.choice(_SHOP_WORDS)}药店"


def generate_terminals(n: int, *, seed: int = 0, places: Sequence[Place] = DEFAULT_PLACES) -> list[Candidate]:
    """``n`` distinct terminals named the way Chinese master data names them: city, county and provincial
    hospitals (第一人民医院, 中医院, 妇幼保健院 ...), university hospitals (附属第一医院), township health centres,
    community health service centres, clinics named after a doctor, chain pharmacy branches (大参林大药房连锁有限公司
    中山路店) and independent pharmacies, spread over ``places``. Distinct after :func:`normalise_name` too."""
    rng = random.Random(seed)
    out: list[Candidate] = []
    seen: set[str] = set()
    attempts = 0
    while len(out) < n and attempts < 50 * n:
        attempts += 1
        place = rng.choice(places)
        name = _terminal_name(rng, place)
        key = normalise_name(name)
        if key in seen:
            continue
        seen.add(key)
        out.append(Candidate(len(out) + 1, name, place.ids))
    return out


def _vary(rng: random.Random, name: str, place: Place) -> tuple[str, str, int | None]:
    """One realistic rewriting of a terminal name as a distributor's file has it: (name, how, region id)."""
    pv, cy = short_place(place.province), short_place(place.city)
    region = rng.choice((None, None, place.ids[0], place.ids[1], place.ids[1], place.ids[2]))
    ops = ["add_province", "city_marker", "legal_form", "brackets", "affiliated", "ordinal_digits", "branch",
           "full_width", "spaces", "note", "typo", "drop_place", "identity"]
    how = rng.choice(ops)
    text = name
    if how == "add_province" and not text.startswith(pv):
        text = f"{place.province}{text}"
    elif how == "city_marker":
        text = text.replace(f"{cy}市", cy, 1) if f"{cy}市" in text else text.replace(cy, f"{cy}市", 1)
    elif how == "legal_form":
        for a, b in (("有限公司", ""), ("连锁", ""), ("有限公司", "有限责任公司"), ("股份有限公司", "有限公司")):
            if a in text:
                text = text.replace(a, b, 1)
                break
        else:
            if text.endswith("大药房") or "药房" in text:
                text = text.replace("药房", "药房有限公司", 1)
    elif how == "brackets" and (m := re.search(r"([^药房司]{2,10}店)$", text)):
        left, right = rng.choice((("(", ")"), ("（", "）"), ("【", "】"), ("[", "]")))
        text = f"{text[:m.start()]}{left}{m[1]}{right}"
    elif how == "affiliated" and "附属第" in text:
        n = text[text.index("附属第") + 3]
        text = text.replace(f"附属第{n}医院", rng.choice((f"附{n}院", f"第{n}附属医院", f"附{n}医院")))
    elif how == "ordinal_digits" and (m := re.search(f"第([{_CN[1:]}])", text)):
        text = text.replace(m[0], f"第{_CN.index(m[1])}", 1)
    elif how == "branch" and text.endswith("店"):
        text = text[:-1] + "分店" if not text.endswith("分店") else text[:-2] + "店"
    elif how == "full_width":
        text = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text).replace("(", "（")
    elif how == "spaces" and len(text) > 6:
        cut = rng.randint(2, len(text) - 2)
        text = f"{text[:cut]} {text[cut:]}"
    elif how == "note":
        text += rng.choice(("(普通合伙)", "（个体工商户）", "(原" + text[:2] + "药店)"))
    elif how == "typo":
        spots = [i for i, c in enumerate(text) if c in _TYPOS and i > 0]
        if spots:
            i = rng.choice(spots)
            text = text[:i] + _TYPOS[text[i]] + text[i + 1:]
    elif how == "drop_place":
        for full, level in ((_city_prefix(place), 1), (place.county, 0)):
            if text.startswith(full):
                text, region = text[len(full):], place.ids[level]
                break
    return text, how, region


def _sibling(rng: random.Random, name: str, place: Place, places: Sequence[Place]) -> tuple[str, str, Place]:
    """A different terminal that looks like ``name``: the hard negatives (第一 / 第二人民医院, another branch of the
    same chain, another kind of hospital, a campus, the same name in another city)."""
    roll = rng.random()
    if roll < 0.25 and (m := re.search(f"第([{_CN[1:9]}])", name)):
        other = _CN[(_CN.index(m[1]) % 8) + 1]
        return name.replace(m[0], f"第{other}", 1), "other_ordinal", place
    if roll < 0.45 and name.endswith("店"):
        base = re.sub(r"[^司房]*店$", "", name)
        return base + _shop_branch(rng), "other_branch", place
    if roll < 0.6 and "医院" in name:
        for a, b in (("人民医院", "中医院"), ("中医院", "人民医院"), ("妇幼保健院", "人民医院")):
            if a in name:
                return name.replace(a, b, 1), "other_kind", place
        return name.replace("医院", rng.choice(("医院东院区", "医院分院", "医院门诊部")), 1), "campus", place
    if roll < 0.8:
        other = rng.choice(places)
        mine = {short_place(x) for x in (place.province, place.city, place.county)}
        if mine & {short_place(x) for x in (other.city, other.county)}:
            return name, "identity_skip", place
        for a, b in ((place.county, other.county), (place.city, other.city),
                     (short_place(place.city), short_place(other.city)),
                     (short_place(place.county), short_place(other.county))):
            if a and a in name and short_place(a) != short_place(b):
                return name.replace(a, b, 1), "other_city", other
    return name.replace(name[-1], rng.choice("甲乙丙") + name[-1], 1), "other_name", place


def generate_queries(terminals: Sequence[Candidate], n: int, *, seed: int = 0, negatives: float = 0.25,
                     places: Sequence[Place] = DEFAULT_PLACES) -> list[LabelledQuery]:
    """``n`` labelled customer names as distributors' files write them: about ``1 - negatives`` of them variants of
    ``terminals`` (province added, 市 dropped or the city left out with the region known, 有限公司 / 连锁 forms,
    brackets of every kind, 附一院 forms, 第1, 分店, full-width, spaces, legal-form notes, a one-character typo), the
    rest hard negatives: look-alikes that are NOT in ``terminals`` (expected None)."""
    rng = random.Random(seed)
    by_ids = {p.ids: p for p in places}
    keys = {normalise_name(t.name) for t in terminals}
    identities = {_identity(k) for k in keys}
    out: list[LabelledQuery] = []
    while len(out) < n:
        t = rng.choice(terminals)
        place = by_ids.get(tuple(t.region_ids)) or rng.choice(places)
        if rng.random() < negatives:
            name, how, where = _sibling(rng, t.name, place, places)
            if how == "identity_skip" or normalise_name(name) in keys or _identity(normalise_name(name)) in identities:
                continue  # not a negative after all: that terminal exists (perhaps under another legal form)
            text, _, region = _vary(rng, name, where)
            if _vary_is_weak(text, name):
                text = name
            out.append(LabelledQuery(Query(text, None, region), None, how))
        else:
            text, how, region = _vary(rng, t.name, place)
            out.append(LabelledQuery(Query(text, None, region), t.id, how))
    return out


def _identity(key: str) -> str:
    """What identifies a terminal in a normalised name: the name without its generic words (医药, 药房 ...)."""
    return _GENERIC.sub("", key)


def _vary_is_weak(text: str, name: str) -> bool:
    return not text.strip()


@dataclass(frozen=True)
class LabelledQuery:
    query: Query
    expected_id: int | None  # the terminal it really is, None for a hard negative (not in the master data)
    variant: str  # how the name was varied (for the report)


@dataclass(frozen=True)
class Evaluation:
    total: int
    positives: int  # queries whose terminal is in the index
    automatic: int
    correct: int
    wrong: int  # automatic matches to the wrong terminal (including hard negatives matched to anything)
    review: int
    by_variant: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # variant → (queries, right, wrong)

    @property
    def precision(self) -> float:
        return self.correct / self.automatic if self.automatic else 1.0

    @property
    def recall(self) -> float:
        return self.correct / self.positives if self.positives else 1.0


def evaluate(index: TerminalIndex, labelled: Sequence[LabelledQuery]) -> Evaluation:
    """Precision (automatic matches that are right) and recall (true terminals matched automatically)."""
    results = index.match_many([lq.query for lq in labelled])
    automatic = correct = 0
    by_variant: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for lq, r in zip(labelled, results, strict=True):
        row = by_variant[lq.variant]
        row[0] += 1
        if r.terminal_id is not None:
            automatic += 1
            right = r.terminal_id == lq.expected_id
            correct += right
            row[1 if right else 2] += 1
    positives = sum(1 for lq in labelled if lq.expected_id is not None)
    return Evaluation(len(labelled), positives, automatic, correct, automatic - correct, len(labelled) - automatic,
                      {k: tuple(v) for k, v in sorted(by_variant.items())})
