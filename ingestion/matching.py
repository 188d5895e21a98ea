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

import random
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from rapidfuzz import fuzz, process
from rapidfuzz.distance import Levenshtein

# ----------------------------------------------------------------------------------------------------------------
# Name normalisation
# ----------------------------------------------------------------------------------------------------------------

_BRACKETS = str.maketrans({c: "(" for c in "【［[〔｛{<《「『〈（"} | {c: ")" for c in "】］]〕｝}>》」』〉）"})
#: Bracketed notes that do not name anything: legal form, ownership, a former name.
_NOISE_NOTE = re.compile(r"\((?:普通合伙|有限合伙|特殊普通合伙|个体工商户|个人独资|个体|非营利|营利|民营|公立|"
                         r"原[^()]*|曾用名[^()]*|注销|停用|旧|新)\)")
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
_DROP_CHARS = re.compile(r"[\s\u3000·・.,，。、;；:：'\"“”‘’`~!！?？\-—_/\\|*#&+=()（）]+")

PROVINCES = ("北京", "天津", "上海", "重庆", "河北", "山西", "辽宁", "吉林", "黑龙江", "江苏", "浙江", "安徽",
             "福建", "江西", "山东", "河南", "湖北", "湖南", "广东", "海南", "四川", "贵州", "云南", "陕西", "甘肃",
             "青海", "台湾", "内蒙古", "广西", "西藏", "宁夏", "新疆", "香港", "澳门")
_PROVINCE_PREFIX = re.compile(
    r"^(?:" + "|".join(sorted(PROVINCES, key=len, reverse=True)) + r")"
    r"(?:省|市|壮族自治区|回族自治区|维吾尔自治区|自治区|特别行政区)?(?=.{2,4}?(?:市|县|区|州|盟))")
_PLACE_SUFFIX = re.compile(r"^(.{2,3}?)(?:市|县|区)(?=.{2,})")


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


def normalise_name(name: str | None) -> str:
    """The comparable form of a terminal / company name; idempotent (``normalise_name(normalise_name(x)) == ...``).

    NFKC (full-width → half-width) and lower case; brackets of every kind unified, notes that name nothing
    (普通合伙, 个体工商户, 原…) dropped, other bracket contents kept (they are often the branch or the city: 大参林
    (中山路店)); legal forms and 连锁 / 股份 removed wherever they stand; 分店 / 门店 → 店; Chinese ordinals to
    digits (第一 → 第1); 附属第一医院 / 第一附属医院 / 附一院 → 附1院; a leading province dropped when a city or county
    follows, and the 市 / 县 / 区 after a leading place name dropped (广东省广州市第一人民医院 = 广州第1人民医院);
    spaces and punctuation removed.
    """
    if not name:
        return ""
    text = unicodedata.normalize("NFKC", str(name)).lower().translate(_BRACKETS)
    text = re.sub(r"\s+", "", text)
    for _ in range(2):
        text = _NOISE_NOTE.sub("", text)
    text = _LEGAL_FORM.sub("", text)
    text = _BRANCH.sub("店", text)
    text = _ORDINAL.sub(_ordinal, text)
    text = _AFFILIATED[0][0].sub(_AFFILIATED[0][1], text)
    text = _AFFILIATED[1][0].sub(_AFFILIATED[1][1], text)
    text = _AFFILIATED[2][0].sub(lambda m: f"附{_CN_DIGITS[m[1]]}院", text)
    text = _AFFILIATED[3][0].sub(lambda m: f"附{_CN_DIGITS[m[1]]}院", text)
    text = _DROP_CHARS.sub("", text)
    text = _PROVINCE_PREFIX.sub("", text)
    text = _PLACE_SUFFIX.sub(r"\1", text)
    return text


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
AUTO_SCORE = 90.0
#: ... and this lead over the best other terminal.
AUTO_MARGIN = 5.0
#: Candidates below this score are not shown for review.
REVIEW_SCORE = 60.0
#: How many candidates a review shows.
TOP_CANDIDATES = 5
#: Blocking: a bigram held by more terminals than this is too common to find candidates by (人民, 医院, 药房).
RARE_BIGRAM = 400
#: Blocking: how many candidates (by shared bigrams) are scored per query.
BLOCK_SIZE = 40

# Spans of a name where any difference means a different terminal (see _significant_spans).
_NUMBERS = re.compile(r"\d+|[零〇一二两三四五六七八九十百]+(?=路|街|巷|号|道|村|组|分|院|店|门|部|区|所|站|中心|医院)")
_KIND_WORDS = re.compile(r"中西医|中医|西医|妇幼|妇产|儿童|肿瘤|口腔|眼科|精神|传染|骨科|康复|皮肤|胸科|老年|"
                         r"社区|卫生院|卫生室|卫生服务|诊所|门诊|人民|分院|院区|保健|急救|疾控|药房|药店|药堂|"
                         r"医药|大学|学院|职工|中心|军|部队|东|南|西|北|新|老")
_BRANCH_SEGMENT = re.compile(r"([^店]{1,6})店$")


def _bigrams(text: str) -> set[str]:
    return {text[i:i + 2] for i in range(len(text) - 1)} if len(text) > 1 else {text}


def _significant_spans(text: str) -> list[tuple[int, int]]:
    spans = [m.span() for m in _NUMBERS.finditer(text)]
    spans += [m.span() for m in _KIND_WORDS.finditer(text)]
    if m := _BRANCH_SEGMENT.search(text):
        spans.append(m.span(1))
    if m := _PLACE_SUFFIX.match(text):
        spans.append(m.span(1))
    return spans


def distinguishing_edit(a: str, b: str) -> bool:
    """Whether the edits turning normalised name ``a`` into ``b`` touch a span that tells two terminals apart."""
    spans_a, spans_b = _significant_spans(a), _significant_spans(b)

    def hits(spans, lo, hi):
        return any(lo < e and s < hi or (lo == hi and s < lo < e) for s, e in spans)

    for op in Levenshtein.opcodes(a, b):
        if op.tag == "equal":
            continue
        if hits(spans_a, op.src_start, op.src_end) or hits(spans_b, op.dest_start, op.dest_end):
            return True
    return False


class TerminalIndex:
    """An index of terminals (and the distributor's aliases) to match many customer names at once.

    ``region_names`` (region id → name, optional) lets matching strip the query's own region from names
    (广州 in 广州第一人民医院 when the row is in 广州): pass it when you have it.
    """

    def __init__(self, terminals: Iterable[Candidate], aliases: Iterable[tuple[str, int]] = (), *,
                 region_names: Mapping[int, str] | None = None):
        self.terminals: list[Candidate] = list(terminals)
        self._pos = {t.id: i for i, t in enumerate(self.terminals)}
        self.keys: list[str] = [normalise_name(t.name) for t in self.terminals]
        self._by_key: dict[str, list[int]] = defaultdict(list)
        for i, key in enumerate(self.keys):
            if key:
                self._by_key[key].append(i)
        self._by_region: dict[int, set[int]] = defaultdict(set)
        for i, t in enumerate(self.terminals):
            for r in t.region_ids:
                if r is not None:
                    self._by_region[r].add(i)
        self._postings: dict[str, list[int]] = defaultdict(list)
        for i, key in enumerate(self.keys):
            for g in _bigrams(key):
                self._postings[g].append(i)
        self.region_names = dict(region_names or {})
        self._aliases: dict[str, int] = {}
        self._alias_keys: dict[str, int | None] = {}
        for text, terminal_id in aliases:
            self.add_alias(text, terminal_id)

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
        """One :class:`MatchResult` per query, in order (identical queries are matched once)."""
        cache: dict[Query, MatchResult] = {}
        results = []
        for q in queries:
            result = cache.get(q)
            if result is None:
                result = cache[q] = self._match_one(q)
            results.append(result)
        return results

    def _in_region(self, i: int, region_id: int | None) -> bool:
        return region_id is None or region_id in self.terminals[i].region_ids

    def _match_one(self, q: Query) -> MatchResult:
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
        exact = [i for i in self._by_key.get(key, ()) if self._in_region(i, q.region_id)]
        if len(exact) == 1:
            tid = self.terminals[exact[0]].id
            return MatchResult(tid, 100.0, "normalised", [(tid, 100.0)])
        if len(exact) > 1:  # the same normalised name twice in the region: a person decides
            return MatchResult(None, 100.0, None, [(self.terminals[i].id, 100.0) for i in exact[:TOP_CANDIDATES]])
        return self._fuzzy(key, q.region_id)

    def _block(self, key: str, region_id: int | None) -> list[int]:
        grams = sorted(_bigrams(key), key=lambda g: len(self._postings.get(g, ())))
        counts: Counter = Counter()
        used = 0
        for g in grams:
            posting = self._postings.get(g)
            if not posting:
                continue
            if len(posting) > RARE_BIGRAM and used >= 2:
                break
            counts.update(posting if len(posting) <= 5 * RARE_BIGRAM else posting[:0])
            used += 1
        if region_id is not None:
            members = self._by_region.get(region_id, set())
            if len(members) <= 2 * BLOCK_SIZE:
                return list(members)
            ranked = [i for i, _ in counts.most_common() if i in members][:BLOCK_SIZE]
            return ranked
        return [i for i, _ in counts.most_common(BLOCK_SIZE)]

    def _fuzzy(self, key: str, region_id: int | None) -> MatchResult:
        block = self._block(key, region_id)
        if not block:
            return MatchResult(None, 0.0, None, [])
        found = process.extract(key, [self.keys[i] for i in block], scorer=fuzz.ratio, limit=TOP_CANDIDATES * 2,
                                score_cutoff=REVIEW_SCORE)
        ranked: list[tuple[int, float]] = []
        seen = set()
        for _text, score, j in found:
            i = block[j]
            tid = self.terminals[i].id
            if tid not in seen:
                seen.add(tid)
                ranked.append((i, float(score)))
        if not ranked:
            return MatchResult(None, 0.0, None, [])
        candidates = [(self.terminals[i].id, round(s, 1)) for i, s in ranked[:TOP_CANDIDATES]]
        best_i, best = ranked[0]
        second = ranked[1][1] if len(ranked) > 1 else 0.0
        if best >= AUTO_SCORE and best - second >= AUTO_MARGIN and not distinguishing_edit(key, self.keys[best_i]):
            return MatchResult(self.terminals[best_i].id, round(best, 1), "fuzzy", candidates)
        return MatchResult(None, round(best, 1), None, candidates)


# ----------------------------------------------------------------------------------------------------------------
# Products
# ----------------------------------------------------------------------------------------------------------------

_SPEC_DROP = re.compile(r"[\s*×xX/:：,，()（）\[\]【】]+")


def normalise_spec(spec: str | None) -> str:
    """A specification as compared: half-width, lower case, no spaces or separators (0.25g*24片 = 0.25g24片)."""
    if not spec:
        return ""
    text = unicodedata.normalize("NFKC", str(spec)).lower()
    text = text.replace("毫克", "mg").replace("克", "g").replace("毫升", "ml").replace("微克", "μg")
    return _SPEC_DROP.sub("", text)


@dataclass(frozen=True)
class ProductCandidate:
    id: int
    name: str
    specification: str | None = None
    generic_name: str | None = None
    code: str | None = None  # our own product code


@dataclass(frozen=True)
class ProductQuery:
    code: str | None
    name: str | None
    specification: str | None = None


#: Products are matched more strictly: a wrong product corrupts stock and coverage figures.
PRODUCT_AUTO_SCORE = 95.0
PRODUCT_AUTO_MARGIN = 8.0


class ProductIndex:
    """Products by the distributor's code alias, then our code, then (normalised name + specification) exactly,
    then fuzzy over name + specification among products of the same generic name (stricter thresholds)."""

    def __init__(self, products: Iterable[ProductCandidate], aliases: Iterable[tuple[str, int]] = ()):
        self.products = list(products)
        self._aliases: dict[str, int] = {}
        for text, pid in aliases:
            if text and text.strip():
                self._aliases[text.strip()] = pid
        self._codes = {p.code.strip(): p.id for p in self.products if p.code}
        self._by_name_spec: dict[tuple[str, str], list[int]] = defaultdict(list)
        self._by_generic: dict[str, list[int]] = defaultdict(list)
        self._keys: list[str] = []
        for i, p in enumerate(self.products):
            name, spec = normalise_name(p.name), normalise_spec(p.specification)
            self._by_name_spec[(name, spec)].append(i)
            for g in {normalise_name(p.generic_name or p.name), name}:
                self._by_generic[g].append(i)
            self._keys.append(f"{name}|{spec}")

    def match_many(self, queries: Sequence[ProductQuery]) -> list[MatchResult]:
        cache: dict[ProductQuery, MatchResult] = {}
        return [cache.setdefault(q, self._match_one(q)) if q not in cache else cache[q] for q in queries]

    def _match_one(self, q: ProductQuery) -> MatchResult:
        code = (q.code or "").strip()
        for table in (self._aliases, self._codes):
            if code and code in table:
                return MatchResult(table[code], 100.0, "alias", [(table[code], 100.0)])
        name_raw = (q.name or "").strip()
        if name_raw in self._aliases:
            return MatchResult(self._aliases[name_raw], 100.0, "alias", [(self._aliases[name_raw], 100.0)])
        name, spec = normalise_name(q.name), normalise_spec(q.specification)
        if not name:
            return MatchResult(None, 0.0, None, [])
        exact = self._by_name_spec.get((name, spec), [])
        if len(exact) == 1:
            pid = self.products[exact[0]].id
            return MatchResult(pid, 100.0, "normalised", [(pid, 100.0)])
        pool = self._by_generic.get(name) or [i for i, p in enumerate(self.products)
                                             if name in normalise_name(p.generic_name or p.name)
                                             or normalise_name(p.generic_name or p.name) in name]
        if not pool:
            return MatchResult(None, 0.0, None, [])
        key = f"{name}|{spec}"
        scored = sorted(((fuzz.ratio(key, self._keys[i]), i) for i in pool), reverse=True)
        candidates = [(self.products[i].id, round(float(s), 1)) for s, i in scored[:TOP_CANDIDATES]]
        best, best_i = scored[0]
        second = scored[1][0] if len(scored) > 1 else 0.0
        spec_ok = not spec or not distinguishing_edit(spec, normalise_spec(self.products[best_i].specification))
        if best >= PRODUCT_AUTO_SCORE and best - second >= PRODUCT_AUTO_MARGIN and spec_ok:
            return MatchResult(self.products[best_i].id, round(float(best), 1), "fuzzy", candidates)
        return MatchResult(None, round(float(best), 1), None, candidates)


# ----------------------------------------------------------------------------------------------------------------
# Labelled generator and precision / recall (used by the unit tests and bench/match.py)
# ----------------------------------------------------------------------------------------------------------------


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
    for lq, r in zip(labelled, results, strict=True):
        if r.terminal_id is not None:
            automatic += 1
            correct += r.terminal_id == lq.expected_id
    positives = sum(1 for lq in labelled if lq.expected_id is not None)
    return Evaluation(len(labelled), positives, automatic, correct, automatic - correct, len(labelled) - automatic)


_CITIES = ("广州", "深圳", "佛山", "东莞", "珠海", "长沙", "株洲", "湘潭", "武汉", "宜昌", "南京", "苏州", "无锡",
           "杭州", "宁波", "温州", "成都", "绵阳", "济南", "青岛", "郑州", "洛阳", "西安", "合肥", "福州", "厦门")
_ROADS = ("中山", "人民", "解放", "建设", "和平", "胜利", "新华", "光明", "长江", "黄河", "东风", "朝阳", "文化",
          "青年", "学府", "滨江", "幸福", "迎宾", "工业", "友谊")
_CHAINS = ("大参林", "老百姓", "益丰", "一心堂", "国大", "海王星辰", "漱玉平民", "健之佳", "九州通", "百姓缘")


def generate_terminals(n: int, seed: int = 0) -> list[Candidate]:
    """``n`` realistic terminal names (placeholder generator; see the tests for the full one)."""
    rng = random.Random(seed)
    out, seen = [], set()
    i = 0
    while len(out) < n:
        city = rng.choice(_CITIES)
        kind = rng.random()
        if kind < 0.3:
            name = f"{city}市第{rng.randint(1, 12)}人民医院"
        elif kind < 0.6:
            name = f"{rng.choice(_CHAINS)}大药房{city}{rng.choice(_ROADS)}路{rng.randint(1, 300)}号店"
        else:
            name = f"{city}市{rng.choice(_ROADS)}社区卫生服务中心{rng.randint(1, 99)}"
        if name not in seen:
            seen.add(name)
            out.append(Candidate(i + 1, name, (None, _CITIES.index(city) + 1, None)))
            i += 1
    return out


def generate_queries(terminals: Sequence[Candidate], n: int, seed: int = 0) -> list[LabelledQuery]:
    """``n`` labelled customer names varied from ``terminals`` (placeholder; refined below)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        t = rng.choice(terminals)
        out.append(LabelledQuery(Query(t.name.replace("市", ""), None, t.region_ids[1]), t.id, "drop_city_suffix"))
    return out
