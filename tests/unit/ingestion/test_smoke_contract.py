"""The public signatures of the pure ingestion modules work together on a small GBK file with title rows."""

from datetime import date
from decimal import Decimal

from ingestion import cleaning, mapping, matching, reading


def test_a_gbk_file_with_title_rows_reads_maps_cleans_and_matches(tmp_path):
    path = tmp_path / "flow.csv"
    path.write_text("某某医药有限公司 2025年3月流向\n经销商编码：D001\n"
                    "销售日期,客户名称,产品编码,产品名称,规格,批号,有效期,数量,单位,单价,金额\n"
                    "2025/3/5,广州市第一人民医院（本部）,P01,阿莫西林胶囊,0.25g*24粒,A001,2027-03,１０,盒,12.50,125.00\n"
                    "\n合计,,,,,,,10,,,125\n", encoding="gbk")
    info = reading.inspect_file(path, "flow.csv", max_bytes=10**6)
    assert (info.format, info.encoding) == ("csv", "gb18030")
    table = reading.read_table(path, info)
    assert table.header_row == 3 and table.title_lines[1] == "经销商编码：D001"
    proposal = mapping.propose_mapping(table.headers)
    assert proposal.kind == "sell_out" and proposal.complete
    chunks = list(table.iter_chunks())
    assert table.dropped == {"blank": 1, "total": 1}
    out = cleaning.normalise_chunk(chunks[0], proposal.columns, proposal.kind)
    row = out.iloc[0]
    assert row["_row"] == 4 and row["business_date"] == date(2025, 3, 5) and row["expires_on"] == date(2027, 3, 31)
    assert row["quantity"] == 10 and row["amount"] == Decimal("125.00") and row["problems"] == []
    index = matching.TerminalIndex([matching.Candidate(1, "广州市第一人民医院", (None, 4401, 44)),
                                    matching.Candidate(2, "广州市第二人民医院", (None, 4401, 44))],
                                   region_names={4401: "广州市", 44: "广东省"})
    result, = index.match_many([matching.Query("广东省广州市第一人民医院")])
    assert (result.terminal_id, result.method) == (1, "normalised")
