"""app.charts: accessible inline SVG bar charts, escaped, proportional, with drill-down links."""

import re
import xml.etree.ElementTree as ET
from decimal import Decimal

from app.charts import bar_chart

SVG = "{http://www.w3.org/2000/svg}"


def test_bars_are_proportional_labelled_and_accessible():
    svg = str(bar_chart([("浙江省", 300), ("江苏省", 150), ("广东省", None)], title="近效期数量", unit=" 盒"))
    root = ET.fromstring(svg)  # well-formed XML
    assert root.get("role") == "img"
    title_id, desc_id = root.get("aria-labelledby").split()
    assert root.find(f"{SVG}title").text == "近效期数量" and root.find(f"{SVG}title").get("id") == title_id
    desc = root.find(f"{SVG}desc")
    assert desc.get("id") == desc_id and desc.text == "浙江省: 300 盒; 江苏省: 150 盒; 广东省: — 盒"
    widths = [float(r.get("width")) for r in root.iter(f"{SVG}rect")]
    assert widths[0] == 2 * widths[1] and widths[2] == 0
    tooltips = [g.find(f"{SVG}title").text for g in root.iter(f"{SVG}g")]
    assert tooltips == ["浙江省: 300 盒", "江苏省: 150 盒", "广东省: — 盒"]


def test_escaping_links_and_formats():
    svg = str(bar_chart([("<script>alert(1)</script>", Decimal("1234.5"), "/x?a=1&b=2"), ("b", 0)], title="t&t"))
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert 'href="/x?a=1&amp;b=2"' in svg
    assert "1,234.50" in svg
    root = ET.fromstring(svg)
    assert len(root.findall(f"{SVG}a")) == 1


def test_empty_and_long_inputs():
    empty = str(bar_chart([], title="none"))
    assert ET.fromstring(empty).find(f"{SVG}desc").text == "—"
    many = str(bar_chart([(f"label {i}", i) for i in range(100)], title="many", max_bars=10))
    assert len(re.findall("<rect", many)) == 10
    long = str(bar_chart([("很长的经销商名称" * 5, 1)], title="long"))
    assert "…" in long
    negative = ET.fromstring(str(bar_chart([("a", -5), ("b", 5)], title="n")))
    assert [float(r.get("width")) for r in negative.iter(f"{SVG}rect")][0] == 0
