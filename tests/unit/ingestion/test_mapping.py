"""Column mapping: the header layouts distributors really send map to the canonical fields, the kind is told
from the headers, missing required fields are named, and a layout's signature is stable."""

from __future__ import annotations

import pytest

from ingestion.mapping import FIELDS, REQUIRED, detect_kind, layout_signature, propose_mapping

# Layouts as they come from distributors' ERP exports (金蝶, 用友, 管家婆 and home-made sheets).
SELL_OUT_LAYOUTS = [
    (["销售日期", "客户名称", "产品编码", "产品名称", "规格", "批号", "有效期", "数量", "单位", "单价", "金额"], {}),
    (["单据日期", "购货单位", "商品编码", "品名", "规格型号", "生产批号", "有效期至", "销售数量", "计量单位",
     "含税单价",
      "含税金额", "备注"], {}),
    (["出库日期", "客户编码", "客户", "货号", "通用名", "规格", "批次", "效期", "出库数量", "单位", "单价", "价税合计",
      "业务员"], {}),
    (["日期", "终端名称", "所属区域", "药品编码", "药品名称", "包装规格", "批号", "失效日期", "数量(盒)", "单价(元)",
      "金额(元)"], {"customer_region": "所属区域", "quantity": "数量(盒)", "unit_price": "单价(元)"}),
    (["*销售日期", "客户名称：", "产品编码 ", "产品名称", "规  格", "批 号", "有效期", "数量", "单价", "金额"], {}),
]


@pytest.mark.parametrize("headers,expected", SELL_OUT_LAYOUTS)
def test_real_sell_out_layouts_map_completely(headers, expected):
    proposal = propose_mapping(headers)
    assert proposal.kind == "sell_out"
    assert proposal.complete, proposal.missing_required
    assert {"business_date", "quantity", "product_name"} <= set(proposal.columns)
    for fld, header in expected.items():
        assert proposal.columns[fld] == header
    assert set(proposal.columns.values()) | set(proposal.unmapped_headers) == {h for h in headers if h.strip()}
    assert len(set(proposal.columns.values())) == len(proposal.columns)  # one header per field


def test_exact_synonyms_give_full_confidence_and_leftovers_are_reported():
    proposal = propose_mapping(SELL_OUT_LAYOUTS[1][0])
    assert proposal.confidence == 1.0 and proposal.fuzzy_fields == []
    assert proposal.unmapped_headers == ["备注"]
    assert proposal.columns["customer_name"] == "购货单位" and proposal.columns["amount"] == "含税金额"


def test_fuzzy_headers_are_proposed_with_lower_confidence():
    proposal = propose_mapping(["销售日期", "客户名称", "产品名称", "销售数量（盒）", "含税金额(元)"])
    assert proposal.columns["quantity"] == "销售数量（盒）"
    assert proposal.columns["amount"] == "含税金额(元)"
    assert 0 < proposal.confidence < 1 and "quantity" in proposal.fuzzy_fields


def test_purchase_and_inventory_layouts():
    purchase = propose_mapping(["入库日期", "供应商名称", "商品编码", "商品名称", "规格", "批号", "有效期", "入库数量",
                                "单价", "金额"])
    assert purchase.kind == "purchase" and purchase.complete
    assert purchase.columns["supplier_name"] == "供应商名称"
    stock = propose_mapping(["商品编码", "商品名称", "规格", "批号", "有效期", "库存数量", "单位"])
    assert stock.kind == "inventory" and stock.complete and "as_of" not in stock.missing_required
    dated = propose_mapping(["日期", "产品编码", "产品名称", "批号", "结存数量"], kind="inventory")
    assert dated.columns["as_of"] == "日期" and dated.columns["quantity"] == "结存数量"


def test_kind_detection():
    assert detect_kind(["销售日期", "客户名称", "产品名称", "数量"]) == "sell_out"
    assert detect_kind(["日期", "供货单位", "产品名称", "数量"]) == "purchase"
    assert detect_kind(["产品名称", "批号", "库存数量"]) == "inventory"
    assert detect_kind(["产品名称", "数量"]) == "inventory"  # no date, no counterparty: a stock list
    assert detect_kind(["日期", "往来单位", "产品名称", "数量"]) is None  # counterparty could be either
    assert detect_kind(["日期", "往来单位", "产品名称", "数量"], ["2025年3月销售流向"]) == "sell_out"


def test_missing_required_fields_are_named():
    proposal = propose_mapping(["日期", "客户名称", "数量"], kind="sell_out")
    assert proposal.missing_required == ["product_code"] and not proposal.complete
    proposal = propose_mapping(["备注", "金额"], kind="sell_out")
    assert proposal.missing_required == ["business_date", "customer_name", "product_code", "quantity"]
    with pytest.raises(ValueError):
        propose_mapping(["日期"], kind="returns")


def test_fields_and_required_are_consistent():
    for kind, groups in REQUIRED.items():
        for group in groups:
            assert set(group) <= set(FIELDS[kind])


def test_layout_signature_is_stable_and_ignores_decoration_but_not_order():
    base = ["销售日期", "客户名称", "数量"]
    assert layout_signature(base) == layout_signature(["销售日期 ", "客户名称：", "数量", "", None])
    assert layout_signature(base) == layout_signature(["销售日期", "客户名称", "数量"])
    assert layout_signature(["ＱＴＹ", "Date"]) == layout_signature(["qty", "date"])
    assert layout_signature(base) != layout_signature(list(reversed(base)))
    assert len(layout_signature(base)) == 64
