"""Recall trace: holders now with quantities, distributors and terminals reached, in a fixed number of queries;
blocking a lot takes it out of every allocation at once; the PDF."""

import base64
import re
import zlib
from datetime import date

import pytest
from sqlalchemy import event

from app.extensions import db
from inventory import reports, services, trace
from inventory.services import InventoryError


def test_trace_content(db_session, channel_world):
    w = channel_world
    t = trace.recall_trace(w["lots"]["L1"])
    assert {h["location_code"]: h["quantity"] for h in t.holdings} == {"MAN-WH": 600, "MAN-Q": 20, "WH-CH-D1": 140,
                                                                       "WH-CH-D2": 15}
    assert t.on_hand == 775
    reach = {d.code: d for d in t.distributors}
    assert set(reach) == {"CH-D1", "CH-D2"}
    d1, d2 = reach["CH-D1"], reach["CH-D2"]
    assert (d1.parts["shipped_in"], d1.parts["transferred_out"], d1.parts["sold"], d1.parts["returned"],
            d1.on_hand) == (400, 100, 140, 20, 140)
    assert (d1.first_date, d1.last_date) == (date(2026, 2, 1), date(2026, 6, 5))
    assert (d2.parts["transferred_in"], d2.parts["sold"], d2.parts["written_off"], d2.on_hand) == (100, 80, 5, 15)
    assert d2.province == "江苏省"
    assert {(x["code"], x["distributor_code"]): x["quantity"] for x in t.terminals} == {("CH-T1", "CH-D1"): 140,
                                                                                       ("CH-T2", "CH-D2"): 80}
    assert [m["kind"] for m in t.movements] == ["receipt", "shipment", "sell_out", "transfer", "sell_out", "return",
                                                "sell_out", "write_off"]


def test_trace_runs_a_fixed_number_of_queries(db_session, channel_world, make_terminal):
    """No N+1: more movements, terminals and holders do not mean more queries."""
    w = channel_world
    statements = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    engine = db_session.get_bind()
    event.listen(engine, "before_cursor_execute", count)
    try:
        trace.recall_trace(w["lots"]["L1"])
        few = len(statements)
        for i in range(5):
            services.post_movement("sell_out", w["lots"]["L1"], 1, from_location=w["loc"]["CH-D1"],
                                   terminal=make_terminal(code=f"CH-TX{i}"))
        db.session.flush()
        statements.clear()
        trace.recall_trace(w["lots"]["L1"])
        assert len(statements) == few <= 6
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_blocking_removes_the_lot_from_allocation_everywhere(db_session, channel_world):
    w = channel_world
    l2 = w["lots"]["L2"]
    before_wh = services.allocate(w["p1"], 100, w["wh"], destination_tier=1)
    before_d1 = services.allocate(w["p1"], 100, w["loc"]["CH-D1"], destination_tier=2)
    assert "L2" in {p.lot_no for p in before_wh.picks} and "L2" in {p.lot_no for p in before_d1.picks}
    services.set_lot_status(l2, "recalled", "质量问题召回")
    for location, tier in ((w["wh"], 1), (w["loc"]["CH-D1"], 2), (w["loc"]["CH-D3"], 2)):
        a = services.allocate(w["p1"], 100, location, destination_tier=tier)
        assert "L2" not in {p.lot_no for p in a.picks}
        assert {s.lot_no: s.reason for s in a.skipped}.get("L2") == "recalled"
    with pytest.raises(InventoryError, match="L2"):
        services.post_movement("shipment", l2, 1, from_location=w["wh"], to_location=w["loc"]["CH-D1"])
    services.set_lot_status(l2, "released", "复检合格")
    assert "L2" in {p.lot_no for p in services.allocate(w["p1"], 100, w["wh"], destination_tier=1).picks}


def pdf_text(data: bytes) -> str:
    """The text drawn in a reportlab PDF (ASCII85 + Flate content streams; CID text is UTF-16 in hex or bytes)."""
    out = []
    for raw in re.findall(rb"stream\r?\n(.*?)endstream", data, re.S):
        try:
            content = zlib.decompress(base64.a85decode(raw.strip(), adobe=True))
        except ValueError:
            continue
        for hexstr in re.findall(rb"<([0-9A-Fa-f\s]+)>\s*Tj", content):
            out.append(bytes.fromhex(hexstr.decode().replace(" ", "")).decode("utf-16-be", "replace"))
        for lit in re.findall(rb"\((.*?)\)\s*Tj", content, re.S):
            text = re.sub(rb"\\([()\\])", rb"\1", lit)
            text = re.sub(rb"\\(\d{3})", lambda m: bytes([int(m.group(1), 8)]), text)
            out.append(text.decode("utf-16-be", "replace") if len(text) % 2 == 0 else text.decode("latin-1"))
    return "\n".join(out)


def test_trace_pdf(db_session, channel_world):
    data = reports.trace_pdf(trace.recall_trace(channel_world["lots"]["L1"]))
    assert data.startswith(b"%PDF")
    text = pdf_text(data)
    assert "L1" in text and "浙江一级医药" in text and "杭州第一医院" in text


def test_order_lines_share_the_stock_they_lock(db_session, channel_world):
    """allocate_lines: each line by FEFO from what the earlier lines left, all of the order's stock locked at once."""
    w = channel_world
    first, second, other = services.allocate_lines([(w["p1"], 600), (w["p1"], 100), (w["p2"], 5)], w["wh"],
                                                   destination_tier=2)
    assert [(p.lot_no, p.quantity) for p in first.picks] == [("L2", 600)]  # L1: 47 days < 90 for tier 2
    assert [(p.lot_no, p.quantity) for p in second.picks] == [("L2", 50)] and second.short == 50
    assert [(p.lot_no, p.quantity) for p in other.picks] == [("L3", 5)]
    assert {s.lot_no: s.reason for s in other.skipped} == {"L4": "expired"}
    with pytest.raises(InventoryError):
        services.allocate_lines([(w["p1"], 5), (w["p2"], 0)], w["wh"], destination_tier=1)
    assert services.allocate_lines([], w["wh"], destination_tier=1) == []
