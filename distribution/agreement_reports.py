"""Excel (.xlsx) exports of agreements: the list, one agreement's achievement, the distributors without a valid
agreement or licence. Chinese headers; every text cell neutralised so nothing a user typed runs as a formula."""

from __future__ import annotations

import io
from collections.abc import Iterable

from flask_babel import force_locale
from openpyxl import Workbook
from openpyxl.styles import Font

from app import clock
from app.masterdata.services import neutralise
from distribution.agreement_jobs import AgreementGap, gap_reason_label
from distribution.agreements import SELL_IN_SOURCE, agreement_achievement, status_label
from distribution.models.agreements import Agreement

LIST_HEADERS = ["协议编号", "经销商编码", "经销商名称", "开始日期", "结束日期", "状态", "账期(天)",
                "建议授信额度", "保证金", "授权产品", "授权产品线", "授权区域", "指定终端", "提交人", "提交时间",
                "审批人", "审批时间", "备注"]
ACHIEVEMENT_HEADERS = ["季度", "目标金额", "目标数量", "进货金额", "进货数量", "金额达成率(%)", "数量达成率(%)",
                       "返利比例(%)", "返利金额"]
GAP_HEADERS = ["经销商编码", "经销商名称", "级别", "所在区域", "问题", "最近协议结束日", "下一协议开始日",
               "许可证有效期至", "GSP证书有效期至"]


def _sheet(ws, headers: list[str], rows: Iterable[list]) -> None:
    ws.append(headers)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in rows:
        ws.append([neutralise(v) for v in row])  # Decimals stay exact
    for row in ws.iter_rows(min_row=2):
        for cell in row:
            if isinstance(cell.value, str):
                cell.data_type = "s"  # text as typed, never a formula
    ws.freeze_panes = "A2"


def _save(wb: Workbook) -> bytes:
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _when(dt) -> str | None:
    return clock.when(dt) or None


def _user(u) -> str | None:
    return u.display_name or u.username if u is not None else None


def agreements_workbook(agreements: Iterable[Agreement]) -> bytes:
    """The agreement list, one row per agreement, codes of authorised products / lines / regions / terminals."""
    wb = Workbook()
    ws = wb.active
    ws.title = "年度协议"
    with force_locale("zh"):
        rows = [[a.number, a.distributor.code, a.distributor.name, a.start_date, a.end_date, status_label(a.status),
                 a.payment_terms_days, a.proposed_credit_limit, a.deposit,
                 "；".join(p.product.code for p in a.products),
                 "；".join(pl.product_line.code for pl in a.product_lines),
                 "；".join(r.region.code for r in a.regions),
                 "；".join(t.terminal.code for t in a.terminals if t.terminal is not None),
                 _user(a.submitted_by), _when(a.submitted_at), _user(a.approved_by), _when(a.approved_at), a.note]
                for a in agreements]
    _sheet(ws, LIST_HEADERS, rows)
    for col, width in zip("ABCDEFGHIJ", (24, 14, 30, 12, 12, 10, 10, 16, 14, 30), strict=True):
        ws.column_dimensions[col].width = width
    return _save(wb)


def achievement_workbook(agreement: Agreement) -> bytes:
    """One agreement's per-quarter achievement and rebate (and a total row), then its rebate tiers."""
    report = agreement_achievement(agreement)
    wb = Workbook()
    ws = wb.active
    ws.title = "达成与返利"
    rows = [[str(r.quarter), r.target_amount, r.target_quantity, r.sell_in_amount, r.sell_in_quantity, r.amount_pct,
             r.quantity_pct, r.rebate_pct, r.rebate_amount] for r in report.rows]
    t = report.total
    rows.append(["合计", t.target_amount, t.target_quantity, t.sell_in_amount, t.sell_in_quantity, t.amount_pct,
                 t.quantity_pct, None, t.rebate_amount])
    _sheet(ws, ACHIEVEMENT_HEADERS, rows)
    ws.append([])
    basis = "金额达成率" if agreement.rebate_basis == "amount" else "数量达成率"
    ws.append([neutralise(f"协议 {agreement.number} · {agreement.distributor.name} · "
                          f"{agreement.start_date} 至 {agreement.end_date} · 返利档位按{basis}")])
    if SELL_IN_SOURCE == "none":
        ws.append(["进货数据来自订单发货；系统尚未记录订单，进货暂为零。"])
    tiers = wb.create_sheet("返利档位")
    _sheet(tiers, ["达成率(%)≥", "返利比例(%)"],
           [[tier.threshold_pct, tier.rate_pct] for tier in agreement.rebate_tiers])
    return _save(wb)


def gaps_workbook(gaps: Iterable[AgreementGap]) -> bytes:
    """Distributors without a valid agreement or licence, with the reasons."""
    wb = Workbook()
    ws = wb.active
    ws.title = "无有效协议或证照"
    with force_locale("zh"):
        rows = [[g.distributor.code, g.distributor.name, g.distributor.tier,
                 g.distributor.region.full_name if g.distributor.region else None,
                 "；".join(gap_reason_label(r, g.distributor) for r in g.reasons), g.last_end, g.next_start,
                 g.distributor.licence_expiry, g.distributor.gsp_expiry] for g in gaps]
    _sheet(ws, GAP_HEADERS, rows)
    return _save(wb)
