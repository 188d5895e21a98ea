"""File intake: every kind of bad file is refused with its own code and a message in both languages; good files
are read in bounded chunks with their line numbers, title rows, footers and odd rows handled."""

from __future__ import annotations

import io
import zipfile
from datetime import date
from pathlib import Path

import pytest
from openpyxl import Workbook

from ingestion import reading
from ingestion.reading import FileRejected, inspect_file, read_table

MB = 1024 * 1024
HEADER = "销售日期,客户名称,产品编码,产品名称,规格,批号,有效期,数量,单位,单价,金额"
ROW = "2025-03-05,广州市第一人民医院,P01,阿莫西林胶囊,0.25g*24粒,A001,2027-03,10,盒,12.50,125.00"


def write(tmp_path: Path, name: str, data: bytes | str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode(encoding))
    return path


def rejected(path: Path, name: str | None = None, max_bytes: int = 10 * MB) -> FileRejected:
    with pytest.raises(FileRejected) as exc:
        info = inspect_file(path, name or path.name, max_bytes=max_bytes)
        list(read_table(path, info).iter_chunks())
    return exc.value


def read_all(path: Path, **kw):
    info = inspect_file(path, path.name, max_bytes=100 * MB)
    table = read_table(path, info, **kw)
    chunks = list(table.iter_chunks())
    return info, table, chunks


def message_in(err: FileRejected, lang: str) -> str:
    from flask import Flask
    from flask_babel import Babel, force_locale

    app = Flask(__name__)
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(Path(reading.__file__).resolve().parents[1] / "app" /
                                                      "translations")
    Babel(app)
    with app.app_context(), force_locale(lang):
        return err.message


# -- refused files ---------------------------------------------------------------------------------------------


def test_empty_file(tmp_path):
    assert rejected(write(tmp_path, "a.csv", b"")).code == "empty"
    assert rejected(write(tmp_path, "b.csv", "\ufeff\r\n\r\n")).code == "empty"


def test_header_only(tmp_path):
    err = rejected(write(tmp_path, "a.csv", f"某某医药 3月流向\n{HEADER}\n\n合计,,,,,,,0\n"))
    assert err.code == "header_only"
    assert "没有数据行" in message_in(err, "zh") and "no data rows" in message_in(err, "en")


def test_no_header_row(tmp_path):
    err = rejected(write(tmp_path, "a.csv", "1,2,3\n4,5,6\n"))
    assert err.code == "no_header"


def test_renamed_exe_pdf_and_image_are_refused_by_content(tmp_path):
    exe = write(tmp_path, "flow.xlsx", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 200)
    err = rejected(exe)
    assert err.code == "not_a_table"
    assert "Windows 程序" in message_in(err, "zh") and "Windows program" in message_in(err, "en")
    assert rejected(write(tmp_path, "flow.csv", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj")).code == "not_a_table"
    assert rejected(write(tmp_path, "x.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")).code == "not_a_table"
    assert rejected(write(tmp_path, "y.csv", b"\x00\x01\x02binary\x00junk")).code == "not_a_table"


def test_a_word_document_renamed_to_xlsx(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("word/document.xml", "<w:document/>")
    err = rejected(write(tmp_path, "flow.xlsx", buf.getvalue()))
    assert err.code == "not_a_table" and "Word" in message_in(err, "zh")


def test_zip_bomb_disguised_as_xlsx_is_refused_before_any_reader_opens_it(tmp_path, monkeypatch):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/workbook.xml", "<workbook/>")
        zf.writestr("xl/worksheets/sheet1.xml", b"\x00" * (40 * MB))  # ~40 KB compressed: 1000x
    path = write(tmp_path, "flow.xlsx", buf.getvalue())
    assert path.stat().st_size < MB

    import python_calamine

    def no_reader(*a, **k):
        raise AssertionError("a reader opened the bomb")

    monkeypatch.setattr(python_calamine.CalamineWorkbook, "from_path", no_reader)
    err = rejected(path)
    assert err.code == "zip_bomb" and "sheet1.xml" in err.params["detail"]


def test_a_200_mb_file_is_refused_from_its_size_without_reading_it(tmp_path, monkeypatch):
    path = tmp_path / "big.csv"
    with path.open("wb") as fh:
        fh.truncate(200 * MB)  # sparse: nothing written
    opened = []
    real_open = Path.open
    monkeypatch.setattr(Path, "open", lambda self, *a, **k: opened.append(self) or real_open(self, *a, **k))
    err = rejected(path, max_bytes=100 * MB)
    assert err.code == "too_big" and err.params == {"size_mb": "200.0", "limit_mb": "100.0"}
    assert opened == []
    assert "200.0 MB" in message_in(err, "zh")


def test_encrypted_and_corrupt_workbooks(tmp_path):
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 1000 + "EncryptedPackage".encode("utf-16-le") + b"\x00" * 64
    assert rejected(write(tmp_path, "secret.xlsx", ole)).code == "encrypted"
    other_ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 1000 + "WordDocument".encode("utf-16-le")
    assert rejected(write(tmp_path, "old.xls", other_ole)).code == "not_a_table"
    assert rejected(write(tmp_path, "cut.xlsx", b"PK\x03\x04" + b"\x00" * 100)).code == "corrupt"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/workbook.xml", "<not a workbook")
    assert rejected(write(tmp_path, "bad.xlsx", buf.getvalue())).code == "corrupt"


def test_mixed_encodings_name_the_line(tmp_path):
    utf8_then_gbk = (f"{HEADER}\n{ROW}\n").encode() + ROW.replace("广州", "深圳").encode("gbk") + b"\n"
    err = rejected(write(tmp_path, "a.csv", utf8_then_gbk))
    assert (err.code, err.params["line"], err.params["expected"]) == ("mixed_encoding", 3, "UTF-8")
    assert "第 3 行" in message_in(err, "zh") and "line 3" in message_in(err, "en")
    gbk_then_utf8 = (f"{HEADER}\n{ROW}\n{ROW}\n").encode("gbk") + f"{ROW.replace('广州', '深圳')}\n".encode()
    err = rejected(write(tmp_path, "b.csv", gbk_then_utf8))
    assert (err.code, err.params["line"], err.params["expected"]) == ("mixed_encoding", 4, "GBK")
    many = 30_000  # over a megabyte of GBK lines: the UTF-8 line lies in a later block of the scan
    big = (f"{HEADER}\n" + f"{ROW}\n" * many).encode("gbk") + f"{ROW.replace('广州', '深圳')}\n".encode()
    assert len(big) > 1 << 20
    err = rejected(write(tmp_path, "c.csv", big + f"{ROW}\n".encode("gbk")))
    assert (err.code, err.params["line"], err.params["expected"]) == ("mixed_encoding", many + 2, "GBK")


def test_undecodable_bytes_name_the_line(tmp_path):
    data = f"{HEADER}\n{ROW}\n".encode("gbk") + b"2025-03-06,\x81\x20\xff\xff\xfe,P01\n"
    err = rejected(write(tmp_path, "a.csv", data))
    assert (err.code, err.params["line"]) == ("undecodable", 3)
    assert "第 3 行" in message_in(err, "zh")


def test_big5_and_shift_jis_are_not_read_as_gbk_mojibake(tmp_path):
    big5 = write(tmp_path, "a.csv", "銷售日期,客戶名稱,數量\n2025-03-05,臺北醫院,10\n", "big5")
    err = rejected(big5)
    assert (err.code, err.params["encoding"]) == ("unsupported_encoding", "big5")
    sjis = write(tmp_path, "b.csv", "日付,顧客名,数量\n2025-03-05,東京病院,10\n", "shift_jis")
    assert rejected(sjis).code == "unsupported_encoding"


# -- good files ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding,expected", [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("gbk", "gb18030"),
                                               ("gb18030", "gb18030")])
def test_encodings_are_detected_and_read(tmp_path, encoding, expected):
    path = write(tmp_path, "a.csv", f"{HEADER}\n{ROW}\n{ROW.replace('广州', '深圳')}\n", encoding)
    info, table, chunks = read_all(path)
    assert info.encoding == expected
    assert table.headers[0] == "销售日期"
    assert list(chunks[0]["客户名称"]) == ["广州市第一人民医院", "深圳市第一人民医院"]


def test_title_rows_footer_blank_and_repeated_header_rows(tmp_path):
    text = "\n".join(["华南医药有限公司 2025年3月 销售流向", "经销商编码：D001,,,", "", HEADER, ROW, "", ROW, HEADER,
                      ROW, "合计,,,,,,,30,,,375.00", "总 计：,,,,,,,30", ""])
    info, table, chunks = read_all(write(tmp_path, "a.csv", text, "gbk"))
    assert table.header_row == 4
    assert table.title_lines == ["华南医药有限公司 2025年3月 销售流向", "经销商编码：D001"]
    rows = chunks[0]
    assert list(rows["_row"]) == [5, 7, 9]
    assert dict(table.dropped) == {"blank": 1, "total": 2, "repeated_header": 1}


def test_short_rows_extra_cells_and_quoted_newlines_lose_nothing(tmp_path):
    text = "\n".join([HEADER, ROW, "2025-03-06,深圳市人民医院,P02", ROW + ",多出来的,列",
                     '2025-03-07,"北京市\n协和医院",P03,x,,,,1', ROW])
    info, table, chunks = read_all(write(tmp_path, "a.csv", text))
    df = chunks[0]
    assert list(df["_row"]) == [2, 3, 4, 5, 6]
    assert df.loc[1, "产品编码"] == "P02" and df.loc[1, "数量"] == ""
    assert df.loc[2, "_extra_cells"] == "多出来的 | 列" and df.loc[0, "_extra_cells"] == ""
    assert df.loc[3, "客户名称"] == "北京市\n协和医院"


def test_odd_rows_spread_over_many_read_blocks_keep_their_place(tmp_path):
    """The CSV parser reads ahead, so rows with too few or too many cells (a 合计 row, a note) can reach the
    invalid-row handler a block early; each must still come back at its own line, once."""
    rows = []
    for i in range(1, 30_001):
        if i % 4_999 == 0:
            rows.append(f"2025-03-05,备注{i}")  # too few cells
        elif i % 7_001 == 0:
            rows.append(ROW.replace("10,盒", f"{i},盒") + ",多余")  # too many
        else:
            rows.append(ROW.replace("10,盒", f"{i},盒"))
    rows.append("合计,,,,,,,30000,,,")
    path = write(tmp_path, "big.csv", "\n".join([HEADER, *rows]))
    info = inspect_file(path, path.name, max_bytes=100 * MB)
    table = read_table(path, info, chunk_rows=2_000)
    table._block_size = 1 << 16  # many small blocks
    chunks = list(table.iter_chunks())
    numbers = [n for c in chunks for n in c["_row"]]
    assert numbers == list(range(2, 30_002)) and table.dropped["total"] == 1
    by_row = {n: (q, c, e) for ch in chunks for n, q, c, e in zip(ch["_row"], ch["数量"], ch["客户名称"],
                                                                      ch["_extra_cells"], strict=True)}
    assert by_row[4_999 + 1] == ("", "备注4999", "")
    assert by_row[7_001 + 1] == ("7001", "广州市第一人民医院", "多余")
    assert by_row[30_000 + 1] == ("30000", "广州市第一人民医院", "")


def test_chunks_joined_from_many_read_blocks_are_whole_and_clean(tmp_path):
    """Read blocks are small (pyarrow reads ~32 of them ahead on its own thread, so their size bounds memory) and
    a chunk is joined from several: each chunk but the last has exactly chunk_rows rows, in order, and goes
    through the cleaning like a chunk from one block."""
    from ingestion.cleaning import normalise_chunk

    rows = [ROW.replace("10,盒", f"{i},盒") for i in range(1, 20_001)]
    path = write(tmp_path, "blocks.csv", "\n".join([HEADER, *rows]))
    info = inspect_file(path, path.name, max_bytes=100 * MB)
    table = read_table(path, info, chunk_rows=7_000)
    table._block_size = 1 << 16  # ~650 rows a block: every chunk is joined from about eleven
    chunks = list(table.iter_chunks())
    assert [len(c) for c in chunks] == [7_000, 7_000, 6_000]
    assert [n for c in chunks for n in c["_row"]] == list(range(2, 20_002))
    columns = {"business_date": "销售日期", "customer_name": "客户名称", "product_code": "产品编码",
               "product_name": "产品名称", "lot_no": "批号", "expires_on": "有效期", "quantity": "数量",
               "unit": "单位", "unit_price": "单价", "amount": "金额"}
    quantities = []
    for c in chunks:
        out = normalise_chunk(c, columns, "sell_out")
        assert set(out["customer_name"]) == {"广州市第一人民医院"}
        quantities += out["quantity"].tolist()
    assert quantities == list(range(1, 20_001))


def test_chunks_are_bounded_and_numbered(tmp_path):
    rows = [ROW.replace("10,盒", f"{i},盒") for i in range(1, 11)]
    info, table, chunks = read_all(write(tmp_path, "a.csv", "\n".join([HEADER, *rows])), chunk_rows=3)
    assert [len(c) for c in chunks] == [3, 3, 3, 1]
    assert [n for c in chunks for n in c["_row"]] == list(range(2, 12))
    assert [q for c in chunks for q in c["数量"]] == [str(i) for i in range(1, 11)]


def test_semicolon_and_tab_delimiters(tmp_path):
    for sep in (";", "\t"):
        path = write(tmp_path, "a.csv", f"{HEADER.replace(',', sep)}\n{ROW.replace(',', sep)}\n")
        info, table, chunks = read_all(path)
        assert info.delimiter == sep and chunks[0].loc[0, "数量"] == "10"


def xlsx(tmp_path: Path, rows: list[list], name: str = "flow.xlsx") -> Path:
    wb = Workbook()
    ws = wb.active
    ws.title = "3月流向"
    for row in rows:
        ws.append(row)
    path = tmp_path / name
    wb.save(path)
    return path


def test_xlsx_with_title_rows_dates_numbers_and_a_total_row(tmp_path):
    path = xlsx(tmp_path, [["华南医药 2025年3月流向"], [], HEADER.split(","),
                           [date(2025, 3, 5), "广州市第一人民医院", "P01", "阿莫西林胶囊", "0.25g*24粒", "A001",
                            date(2027, 3, 31), 10, "盒", 12.5, 125.0],
                           [45722, "深圳市人民医院", 1001, "阿莫西林胶囊", None, "A002", "2027-04", 3.0, "盒", 0.1,
                            0.3],
                           ["合计", None, None, None, None, None, None, 13, None, None, 125.3]])
    info, table, chunks = read_all(path)
    assert info.format == "xlsx" and table.sheet_name == "3月流向"
    assert table.header_row == 3 and table.title_lines == ["华南医药 2025年3月流向"]
    df = chunks[0]
    assert list(df["_row"]) == [4, 5]
    assert list(df["销售日期"]) == ["2025-03-05", "45722"]
    assert list(df["产品编码"]) == ["P01", "1001"] and list(df["单价"]) == ["12.5", "0.1"]
    assert list(df["数量"]) == ["10", "3"]
    assert table.dropped == {"total": 1}


def test_formulas_are_read_as_cached_values_and_flagged_when_there_is_none(tmp_path):
    path = xlsx(tmp_path, [HEADER.split(","),
                           ["2025-03-05", "广州市第一人民医院", "P01", "阿莫西林", "", "A1", "", 10, "盒", 12.5,
                            "=H2*J2"],
                           ["2025-03-05", "广州市第二人民医院", "P01", "阿莫西林", "", "A1", "", 2, "盒", 12.5, 25]])
    info, table, chunks = read_all(path)  # openpyxl writes formulas without a cached value
    df = chunks[0]
    assert list(df["_formula_no_value"]) == ["金额", ""]
    assert df.loc[0, "金额"] == "" and df.loc[1, "金额"] == "25"


def test_a_workbook_without_data(tmp_path):
    assert rejected(xlsx(tmp_path, [])).code == "no_sheet"


def test_a_big_sheet_is_streamed_and_reads_exactly_as_the_loaded_one(tmp_path, monkeypatch):
    wb = Workbook()
    ws = wb.active
    ws["C1"] = "华南医药 2025年3月流向"
    ws.append([None, None, *HEADER.split(",")])
    for i in range(30):
        ws.append([None, None, date(2025, 3, 1 + i % 28), f"医院{i}", f"P{i:02d}", "阿莫西林", "0.25g*24粒", f"A{i}",
                   "2027-03-31", i + 1, "盒", 12.5 + i / 100, f"=L{i + 3}*J{i + 3}" if i == 5 else (i + 1) * 12.5])
    ws.cell(row=40, column=3, value="合计")
    ws["C10"].number_format = "yyyy年m月d日"
    path = tmp_path / "big.xlsx"
    wb.save(path)
    loaded = read_all(path)
    monkeypatch.setattr(reading, "STREAM_SHEET_BYTES", 0)
    info, table, chunks = read_all(path)
    assert isinstance(table._source, reading._XlsxStream)
    assert (table.headers, table.title_lines, table.header_row) == (loaded[1].headers, loaded[1].title_lines, 2)
    import pandas as pd

    pd.testing.assert_frame_equal(chunks[0].astype(object), loaded[2][0].astype(object))
    assert chunks[0].loc[5, "_formula_no_value"] == "金额" and chunks[0].loc[0, "销售日期"] == "2025-03-01"
    assert chunks[0].loc[7, "销售日期"] == "2025-03-08"  # a date in a 年月日 format is a date, not a serial
    assert table.dropped == loaded[1].dropped == {"blank": 7, "total": 1}  # rows 33-39 are empty
