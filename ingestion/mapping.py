"""Column mapping of channel-data files: which header of a distributor's file holds which canonical field.

Pure (no Flask, no database): plain values in, plain values out. The pipeline proposes a mapping for a new layout
with :func:`propose_mapping`, a person confirms it once, and the confirmed mapping is saved as a template keyed by
:func:`layout_signature` so the next file with the same headers maps by itself.

``kind`` is a :class:`ingestion.models.DataKind` value (a ``StrEnum``, so the plain strings ``"sell_out"``,
``"purchase"`` and ``"inventory"`` work too; this module does not import the models so it stays pure).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from rapidfuzz import fuzz

SELL_OUT, PURCHASE, INVENTORY = "sell_out", "purchase", "inventory"
KINDS = (SELL_OUT, PURCHASE, INVENTORY)

_PRODUCT = ("product_code", "product_name", "specification")
#: Canonical fields per kind, in the order a rejected-rows export shows them.
FIELDS: dict[str, tuple[str, ...]] = {
    SELL_OUT: ("business_date", "customer_name", "customer_code", "customer_region", *_PRODUCT, "lot_no",
               "expires_on", "quantity", "unit", "unit_price", "amount"),
    PURCHASE: ("business_date", "supplier_name", "supplier_code", *_PRODUCT, "lot_no", "expires_on", "quantity",
               "unit", "unit_price", "amount"),
    INVENTORY: ("as_of", *_PRODUCT, "lot_no", "expires_on", "quantity", "unit"),
}

#: Required fields per kind: each entry is a group of alternatives, one of which must be mapped
#: (a customer by name or by code, a product by code or by name). ``missing_required`` names the first of a group.
REQUIRED: dict[str, tuple[tuple[str, ...], ...]] = {
    SELL_OUT: (("business_date",), ("customer_name", "customer_code"), ("product_code", "product_name"),
               ("quantity",)),
    PURCHASE: (("business_date",), ("supplier_name", "supplier_code"), ("product_code", "product_name"),
               ("quantity",)),
    INVENTORY: (("product_code", "product_name"), ("quantity",)),
}

#: Header synonyms as they appear in distributors' files (normalised with :func:`normalise_header` before use).
#: The order matters only for ties: an exact synonym always beats a fuzzy one.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "business_date": ("销售日期", "日期", "单据日期", "出库日期", "开票日期", "业务日期", "发货日期", "销售时间",
                      "单据时间", "制单日期", "记账日期", "过账日期", "交易日期", "采购日期", "入库日期", "进货日期",
                      "到货日期", "收货日期", "date", "business date", "sale date", "sales date"),
    "as_of": ("库存日期", "盘点日期", "截止日期", "统计日期", "日期", "快照日期", "as of", "stock date"),
    "customer_name": ("客户名称", "购货单位", "客户", "购货单位名称", "客户全称", "终端名称", "销售对象", "收货单位",
                      "购买单位", "购方名称", "医院名称", "药店名称", "单位名称", "往来单位", "往来单位名称",
                      "customer", "customer name"),
    "customer_code": ("客户编码", "客户代码", "客户编号", "购货单位编码", "终端编码", "单位编码", "往来单位编码",
                      "customer code", "customer id"),
    "customer_region": ("客户地区", "地区", "区域", "所属区域", "省份", "城市", "区县", "客户区域", "销售区域",
                        "所在地区", "region"),
    "supplier_name": ("供应商名称", "供货单位", "供应商", "供货单位名称", "上游单位", "上游供应商", "供货商",
                      "往来单位", "往来单位名称", "supplier", "supplier name"),
    "supplier_code": ("供应商编码", "供应商代码", "供货单位编码", "供应商编号", "supplier code"),
    "product_code": ("产品编码", "商品编码", "货号", "药品编码", "产品代码", "商品代码", "商品编号", "产品编号",
                     "物料编码", "存货编码", "品种编码", "product code", "item code", "sku"),
    "product_name": ("产品名称", "商品名称", "品名", "通用名", "药品名称", "通用名称", "商品名", "品种名称",
                     "存货名称", "物料名称", "产品", "商品", "product", "product name", "item name"),
    "specification": ("规格", "规格型号", "型号", "产品规格", "商品规格", "药品规格", "包装规格", "规格/型号",
                      "specification", "spec"),
    "lot_no": ("批号", "生产批号", "批次", "批次号", "产品批号", "药品批号", "lot", "lot no", "batch", "batch no"),
    "expires_on": ("有效期", "有效期至", "效期", "失效日期", "有效日期", "有效期限", "到期日期", "有效期止",
                   "expiry", "expiry date", "expires on"),
    "quantity": ("数量", "销售数量", "出库数量", "发货数量", "采购数量", "入库数量", "库存数量", "结存数量",
                 "实际库存", "库存", "数量(盒)", "件数", "qty", "quantity"),
    "unit": ("单位", "计量单位", "包装单位", "基本单位", "unit", "uom"),
    "unit_price": ("单价", "含税单价", "销售单价", "价格", "出库单价", "采购单价", "进价", "售价", "不含税单价",
                   "unit price", "price"),
    "amount": ("金额", "含税金额", "销售金额", "价税合计", "总金额", "出库金额", "采购金额", "不含税金额", "amount"),
}

#: Headers whose presence tells the kind apart (customer columns: sell-out; supplier columns: purchase; a stock
#: date or stock quantity without either: inventory).
_KIND_HINTS: dict[str, tuple[str, ...]] = {
    SELL_OUT: ("customer_name", "customer_code", "customer_region"),
    PURCHASE: ("supplier_name", "supplier_code"),
    INVENTORY: ("as_of",),
}
_KIND_WORDS: dict[str, tuple[str, ...]] = {
    SELL_OUT: ("销售", "出库", "发货", "客户", "购货", "流向"),
    PURCHASE: ("采购", "入库", "进货", "供应商", "供货", "到货"),
    INVENTORY: ("库存", "结存", "盘点", "在库"),
}

#: A fuzzy header match must reach this (rapidfuzz ratio, 0..100) to be proposed; a person confirms it anyway.
FUZZY_HEADER_SCORE = 80.0

_SPACES = re.compile(r"[\s\u3000]+")
_DECORATION = re.compile(r"[*＊:：#]+|（必填）|\(必填\)|\(元\)|（元）|\(含税\)|（含税）")


def normalise_header(header: object) -> str:
    """A header as compared: NFKC (full-width → half-width), lower case, no spaces, no ``*`` / ``:`` decoration."""
    text = unicodedata.normalize("NFKC", str(header if header is not None else "")).strip().lower()
    text = _DECORATION.sub("", text)
    return _SPACES.sub(" ", text).strip().replace(" ", "")


_SYNONYM_INDEX: dict[str, tuple[str, ...]] = {}
for _field, _words in SYNONYMS.items():
    for _word in _words:
        _key = normalise_header(_word)
        _SYNONYM_INDEX[_key] = (*_SYNONYM_INDEX.get(_key, ()), _field)
#: Every known header word, normalised (reading uses this to find the header row below title rows).
KNOWN_HEADER_WORDS: frozenset[str] = frozenset(_SYNONYM_INDEX)


def is_known_header(header: object) -> bool:
    """Whether ``header`` is (or is very close to) a header word of :data:`SYNONYMS`."""
    key = normalise_header(header)
    if not key:
        return False
    if key in _SYNONYM_INDEX:
        return True
    return _best_fuzzy(key, SYNONYMS)[1] >= FUZZY_HEADER_SCORE


@dataclass(frozen=True)
class Proposal:
    """A proposed column mapping: ``columns`` maps a canonical field to the file's header that holds it."""

    kind: str
    columns: dict[str, str]
    unmapped_headers: list[str]
    missing_required: list[str]
    confidence: float  # 0..1: 1 when every mapped column is an exact synonym and nothing required is missing
    fuzzy_fields: list[str] = field(default_factory=list)  # fields mapped by a fuzzy (not exact) header match

    @property
    def complete(self) -> bool:
        return not self.missing_required


def _best_fuzzy(key: str, synonyms: dict[str, Sequence[str]]) -> tuple[str | None, float]:
    best, best_score = None, 0.0
    for fld, words in synonyms.items():
        for word in words:
            score = fuzz.ratio(key, normalise_header(word))
            if score > best_score:
                best, best_score = fld, score
    return best, best_score


def detect_kind(headers: Iterable[object], title_lines: Iterable[str] = ()) -> str | None:
    """Guess the kind of a file from its headers (and optionally the title text above them); None when unsure.

    Customer columns mean sell-out, supplier columns purchase, a stock date (or only product / lot / quantity
    columns with a stock word such as 库存 / 结存) an inventory snapshot.
    """
    keys = [normalise_header(h) for h in headers]
    fields = {f for k in keys for f in _SYNONYM_INDEX.get(k, ())}
    # 往来单位 (counterparty) is both customer and supplier: it decides nothing by itself.
    ambiguous = {normalise_header("往来单位"), normalise_header("往来单位名称")}
    # a word that is both a business date and a stock date (日期) decides nothing either
    decisive = {f for k in keys if k not in ambiguous and set(_SYNONYM_INDEX.get(k, ())) != {"business_date", "as_of"}
                for f in _SYNONYM_INDEX.get(k, ())}
    scores = {kind: sum(1 for f in hints if f in decisive) for kind, hints in _KIND_HINTS.items()}
    text = " ".join([*keys, *(str(t) for t in title_lines)])
    for kind, words in _KIND_WORDS.items():
        scores[kind] += sum(0.5 for w in words if w in text)
    if "business_date" not in fields and "quantity" in fields and not scores[SELL_OUT] and not scores[PURCHASE]:
        scores[INVENTORY] += 1
    ranked = sorted(scores.items(), key=lambda kv: -kv[1])
    (best, top), (_, second) = ranked[0], ranked[1]
    if top == 0 or top == second:
        return None
    return best


def propose_mapping(headers: Sequence[object], kind: str | None = None,
                    title_lines: Iterable[str] = ()) -> Proposal:
    """Propose which header holds which canonical field of ``kind`` (detected from the headers when None).

    Each header is matched to at most one field and each field to at most one header: exact synonyms first
    (in the order of the file's columns, so the first of two 日期 columns wins), then fuzzy matches
    (rapidfuzz ratio ≥ :data:`FUZZY_HEADER_SCORE`) for what is left. When the kind cannot be detected the
    proposal is made for sell-out (the most common kind) with a low confidence.
    """
    detected = kind or detect_kind(headers, title_lines)
    use = str(detected or SELL_OUT)
    if use not in FIELDS:
        raise ValueError(f"unknown kind {kind!r}")
    allowed = FIELDS[use]
    synonyms = {f: SYNONYMS[f] for f in allowed}
    columns: dict[str, str] = {}
    used: set[int] = set()
    originals = [str(h) if h is not None else "" for h in headers]
    keys = [normalise_header(h) for h in headers]
    # Pass 1: exact synonyms; a word that is a synonym of several fields (日期: date and as_of) goes to the first
    # of them that this kind has and that is still free.
    for i, key in enumerate(keys):
        for fld in _SYNONYM_INDEX.get(key, ()):
            if fld in synonyms and fld not in columns:
                columns[fld] = originals[i]
                used.add(i)
                break
    # Pass 2: fuzzy, best pairs first.
    pairs = []
    for i, key in enumerate(keys):
        if i in used or not key:
            continue
        for fld, words in synonyms.items():
            if fld in columns:
                continue
            score = max(fuzz.ratio(key, normalise_header(w)) for w in words)
            # a header containing a synonym whole (销售数量（盒）, 含税金额(元)) is as good as a close spelling
            if any(len(normalise_header(w)) >= 2 and normalise_header(w) in key for w in words):
                score = max(score, 85.0)
            if score >= FUZZY_HEADER_SCORE:
                pairs.append((score, i, fld))
    fuzzy_fields = []
    for _score, i, fld in sorted(pairs, key=lambda p: (-p[0], p[1])):
        if i in used or fld in columns:
            continue
        columns[fld] = originals[i]
        used.add(i)
        fuzzy_fields.append(fld)
    missing = [group[0] for group in REQUIRED[use] if not any(f in columns for f in group)]
    unmapped = [originals[i] for i in range(len(originals)) if i not in used and keys[i]]
    n_required = len(REQUIRED[use])
    confidence = (n_required - len(missing)) / n_required
    if columns:
        confidence *= 1 - 0.5 * len(fuzzy_fields) / len(columns)
    if detected is None:
        confidence *= 0.5
    ordered = {f: columns[f] for f in allowed if f in columns}
    return Proposal(use, ordered, unmapped, missing, round(confidence, 3), fuzzy_fields)


def layout_signature(headers: Iterable[object]) -> str:
    """A stable hash (64 hex digits) of the normalised header list: the same layout always gives the same value.

    Normalisation ignores full-width / half-width, case, spaces and ``*`` / ``:`` decoration and trailing empty
    headers, but not the order of the columns (a different order is a different layout).
    """
    keys = [normalise_header(h) for h in headers]
    while keys and not keys[-1]:
        keys.pop()
    return hashlib.sha256("\x1f".join(keys).encode("utf-8")).hexdigest()
