"""File intake: decide whether a received file is a table we can read safely, then read it in bounded chunks.

Pure (no Flask, no database). Two steps, both raising :class:`FileRejected` with a code and a translated message
for a file that must not be processed:

* :func:`inspect_file` looks at the bytes, never at the extension: size limits (checked from the file system before
  reading anything), magic bytes (a renamed .exe, PDF or image is refused), the zip container of an .xlsx (declared
  uncompressed sizes and compression ratios checked BEFORE any reader opens it: a zip bomb is refused), encrypted
  or corrupt workbooks, and for CSV the encoding (UTF-8, UTF-8 with BOM, GBK / GB18030), the whole file verified so
  that an undecodable or mixed-encoding line is named.
* :func:`read_table` finds the header row below any title rows and returns a :class:`Table` whose
  :meth:`Table.iter_chunks` yields pandas DataFrames of raw strings (one column per header plus ``_row``, the
  1-based line / row number in the file), at most ``chunk_rows`` rows each, so memory stays bounded whatever the
  file size. Footer rows (合计 / 总计 / 小计), blank rows and repeated header rows are dropped and counted in
  ``Table.dropped``, never returned as data. Formulas are never evaluated: the cached value is read, and a cell
  holding a formula without a cached value is listed in the ``_formula_no_value`` column (the headers of such
  cells, joined by ``|``; empty otherwise), which cleaning turns into the row problem ``formula_no_value``.
"""

from __future__ import annotations

import codecs
import csv
import math
import re
import unicodedata
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path

import pandas as pd
from flask_babel import lazy_gettext as _l

from ingestion.mapping import is_known_header, normalise_header

CSV, XLSX, XLS = "csv", "xlsx", "xls"
ROW = "_row"
FORMULA_NO_VALUE = "_formula_no_value"

#: Zip-bomb limits for .xlsx: total declared uncompressed size, and the compression ratio of any one member.
MAX_UNCOMPRESSED_BYTES = 1024 * 1024 * 1024
MAX_COMPRESSION_RATIO = 200
MAX_ZIP_MEMBERS = 10_000
#: How many rows at the top may be scanned for the header row.
HEADER_SCAN_ROWS = 30
_BLOCK = 1 << 20


class FileRejected(Exception):
    """The file as a whole cannot be processed. ``code`` is stable (for the API / tests), ``message`` translated."""

    def __init__(self, code: str, message, **params):
        self.code = code
        self.params = params
        self._message = message
        super().__init__(code)

    @property
    def message(self) -> str:
        text = str(self._message)
        return text % self.params if self.params else text

    def __str__(self) -> str:  # the English (or current locale's) text, for logs
        try:
            return f"{self.code}: {self.message}"
        except Exception:  # noqa: BLE001 - outside an app context the lazy string may not render
            return self.code


#: Messages of every FileRejected code (English msgids; zh in the catalog).
MESSAGES = {
    "empty": _l("The file is empty."),
    "too_big": _l("The file is too big (%(size_mb)s MB; the limit is %(limit_mb)s MB)."),
    "not_a_table": _l("This is not a CSV or Excel file (it looks like %(what)s). Upload a .csv, .xlsx or .xls file."),
    "zip_bomb": _l("The Excel file expands to far more data than a real spreadsheet (%(detail)s); it was refused."),
    "encrypted": _l("The Excel file is password-protected. Remove the password and upload it again."),
    "corrupt": _l("The Excel file is damaged and cannot be read (%(detail)s)."),
    "undecodable": _l("Line %(line)s cannot be read as text in any supported encoding (UTF-8, GBK / GB18030)."),
    "mixed_encoding": _l("The file mixes text encodings: line %(line)s is not %(expected)s like the lines before "
                         "it. Save the whole file in one encoding (UTF-8 is best) and upload it again."),
    "unsupported_encoding": _l("The file's text encoding (%(encoding)s) is not supported; save it as UTF-8 or GBK."),
    "no_header": _l("No header row was found in the first %(rows)s rows (column names such as 日期, 客户名称, "
                    "产品名称, 数量)."),
    "header_only": _l("The file has a header row but no data rows."),
    "no_sheet": _l("The workbook has no worksheet with data."),
    "malformed": _l("Line %(line)s cannot be parsed as a table row (%(detail)s)."),
}


def _reject(code: str, **params) -> FileRejected:
    return FileRejected(code, MESSAGES[code], **params)


@dataclass(frozen=True)
class FileInfo:
    """What :func:`inspect_file` found: ``format`` is 'csv', 'xlsx' or 'xls'; ``encoding`` only for CSV."""

    filename: str
    format: str
    size: int
    encoding: str | None = None
    delimiter: str | None = None


# ---------------------------------------------------------------------------------------------------------------
# inspect_file
# ---------------------------------------------------------------------------------------------------------------

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"MZ", _l("a Windows program (.exe / .dll)")),
    (b"\x7fELF", _l("a Linux program")),
    (b"%PDF", _l("a PDF document")),
    (b"\x89PNG", _l("a PNG image")),
    (b"\xff\xd8\xff", _l("a JPEG image")),
    (b"GIF8", _l("a GIF image")),
    (b"II*\x00", _l("a TIFF image")),
    (b"MM\x00*", _l("a TIFF image")),
    (b"Rar!", _l("a RAR archive")),
    (b"7z\xbc\xaf\x27\x1c", _l("a 7-Zip archive")),
    (b"\x1f\x8b", _l("a gzip archive")),
    (b"BZh", _l("a bzip2 archive")),
    (b"\xfd7zXZ", _l("an xz archive")),
    (b"{\\rtf", _l("an RTF document")),
    (b"\xca\xfe\xba\xbe", _l("a program")),
    (b"\xcf\xfa\xed\xfe", _l("a program")),
)
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP = (b"PK\x03\x04", b"PK\x05\x06")


def inspect_file(path: str | Path, filename: str, *, max_bytes: int) -> FileInfo:
    """Check that ``path`` is a readable table and say what it is; raise :class:`FileRejected` otherwise.

    The size comes from the file system, so a file over ``max_bytes`` is refused without reading it. The format
    comes from the content (magic bytes), never from ``filename``'s extension. Codes: ``empty``, ``too_big``,
    ``not_a_table``, ``zip_bomb``, ``encrypted``, ``corrupt``, ``undecodable``, ``mixed_encoding``,
    ``unsupported_encoding``.
    """
    path = Path(path)
    size = path.stat().st_size
    if size == 0:
        raise _reject("empty")
    if size > max_bytes:
        raise _reject("too_big", size_mb=_mb(size), limit_mb=_mb(max_bytes))
    with path.open("rb") as fh:
        head = fh.read(8192)
    if head.startswith(_ZIP):
        _check_zip(path)
        return FileInfo(filename, XLSX, size)
    if head.startswith(_OLE):
        _check_ole(path)
        return FileInfo(filename, XLS, size)
    binary = b"\x00" in head  # no CSV holds NUL bytes
    for magic, what in _MAGIC:
        if head.startswith(magic) and (binary or len(magic) >= 4):
            raise _reject("not_a_table", what=what)
    if head.startswith(b"BM") and binary:
        raise _reject("not_a_table", what=_l("a bitmap image"))
    if binary and not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise _reject("not_a_table", what=_l("binary data"))
    if head.lstrip()[:5].lower() in (b"<html", b"<!doc") or head.lstrip().startswith(b"<?xml"):
        raise _reject("not_a_table", what=_l("an HTML / XML document"))
    encoding = detect_encoding(path)
    if not head.strip(b"\xef\xbb\xbf\xff\xfe\r\n\t ,;"):
        raise _reject("empty")
    return FileInfo(filename, CSV, size, encoding, _sniff_delimiter(head, encoding))


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.1f}"


def _check_zip(path: Path) -> None:
    """Refuse a zip that is not an .xlsx, that would expand too much, or that is encrypted or damaged."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise _reject("corrupt", detail=str(exc)[:100]) from None
    if len(infos) > MAX_ZIP_MEMBERS:
        raise _reject("zip_bomb", detail=f"{len(infos)} parts")
    total = 0
    for info in infos:
        total += info.file_size
        if info.flag_bits & 0x1:
            raise _reject("encrypted")
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > 1024 * 1024 and ratio > MAX_COMPRESSION_RATIO:
            raise _reject("zip_bomb", detail=f"{info.filename}: {ratio:.0f}×")
    if total > MAX_UNCOMPRESSED_BYTES:
        raise _reject("zip_bomb", detail=f"{_mb(total)} MB")
    names = {i.filename for i in infos}
    if "xl/workbook.xml" not in names and "xl/workbook.bin" not in names:
        what = _l("a Word document") if "word/document.xml" in names else (
            _l("a PowerPoint file") if "ppt/presentation.xml" in names else _l("a zip archive"))
        raise _reject("not_a_table", what=what)


def _check_ole(path: Path) -> None:
    """An OLE2 container is an .xls workbook, or an encrypted .xlsx (EncryptedPackage stream), or something else."""
    marker = "EncryptedPackage".encode("utf-16-le")
    workbook = "Workbook".encode("utf-16-le")
    book = "Book".encode("utf-16-le")
    found_book = False
    with path.open("rb") as fh:
        tail = b""
        while block := fh.read(_BLOCK):
            data = tail + block
            if marker in data:
                raise _reject("encrypted")
            found_book = found_book or workbook in data or book in data
            tail = data[-64:]
    if not found_book:
        raise _reject("not_a_table", what=_l("an old Office document that is not a workbook"))


def detect_encoding(path: str | Path) -> str:
    """The text encoding of a CSV file: 'utf-8-sig', 'utf-8' or 'gb18030', verified over the whole file.

    UTF-8 is tried first (strictly, over every byte). When it fails, the first non-UTF-8 line decides: if earlier
    lines already held UTF-8 text the file mixes encodings (``mixed_encoding``, naming the line); otherwise
    charset-normalizer judges a sample and the whole file must then decode as GB18030 (a superset of GBK and
    GB2312) with no line that is valid UTF-8 Chinese (which would again be a mixed file).
    """
    path = Path(path)
    with path.open("rb") as fh:
        bom = fh.read(4)
    if bom.startswith(codecs.BOM_UTF8):
        offset, line = _first_error(path, "utf-8", skip=3)
        if offset is not None:
            raise _reject("mixed_encoding", line=line, expected="UTF-8")
        return "utf-8-sig"
    if bom.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise _reject("unsupported_encoding", encoding="UTF-16")
    offset, line = _first_error(path, "utf-8")
    if offset is None:
        return "utf-8"
    earlier = _first_utf8_text_line(path, until_line=line)
    if earlier is not None:  # UTF-8 Chinese text before the first non-UTF-8 line
        raise _reject("mixed_encoding", line=line, expected="UTF-8")
    guess = _guess_legacy(path, offset)
    if guess is None:
        raise _reject("undecodable", line=line)
    if guess != "gb18030":
        raise _reject("unsupported_encoding", encoding=guess)
    bad, bad_line = _first_error(path, "gb18030")
    if bad is not None:
        raise _reject("undecodable", line=bad_line)
    utf8_line = _first_utf8_text_line(path)
    if utf8_line is not None:
        raise _reject("mixed_encoding", line=utf8_line, expected="GBK")
    return "gb18030"


def _first_error(path: Path, encoding: str, skip: int = 0) -> tuple[int | None, int | None]:
    """Offset and 1-based line number of the first byte that does not decode strictly, or (None, None)."""
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    pos, lines = 0, 1
    with path.open("rb") as fh:
        fh.seek(skip)
        pos = skip
        while True:
            block = fh.read(_BLOCK)
            final = not block
            try:
                decoder.decode(block, final)
            except UnicodeDecodeError as exc:
                # exc.start is relative to the decoder's buffered bytes + this block; pending bytes (at most 3)
                # belong to the previous block, so back up by what the decoder kept.
                pending = len(exc.object) - len(block)
                offset = pos - pending + exc.start
                return offset, _line_of(path, offset)
            if final:
                return None, None
            pos += len(block)
            lines += block.count(b"\n")


def _line_of(path: Path, offset: int) -> int:
    count = 1
    with path.open("rb") as fh:
        remaining = offset
        while remaining > 0:
            block = fh.read(min(_BLOCK, remaining))
            if not block:
                break
            count += block.count(b"\n")
            remaining -= len(block)
    return count


_LEGACY_CANDIDATES = ["gb18030", "big5", "shift_jis", "euc_kr", "cp1252"]


def _guess_legacy(path: Path, offset: int) -> str | None:
    """charset-normalizer's judgement of a sample around the first non-UTF-8 byte; GB encodings as 'gb18030'."""
    from charset_normalizer import from_bytes

    with path.open("rb") as fh:
        fh.seek(max(0, offset - 4096))
        sample = fh.read(64 * 1024)
    # Cut the sample at line boundaries so that no character is split.
    first_nl = sample.find(b"\n")
    last_nl = sample.rfind(b"\n")
    if offset > 4096 and 0 <= first_nl < last_nl:
        sample = sample[first_nl + 1:last_nl + 1]
    best = from_bytes(sample, cp_isolation=_LEGACY_CANDIDATES).best()
    if best is None:
        return None
    name = best.encoding.lower().replace("-", "_")
    if name in ("gb18030", "gbk", "gb2312", "hz", "cp936"):
        return "gb18030"
    return name


_UTF8_TEXT_LINE = re.compile(r"^[^\n\ufffd]*[\u4e00-\u9fff]{2}[^\n\ufffd]*$", re.M)


def _first_utf8_text_line(path: Path, until_line: int | None = None) -> int | None:
    """The first line (before ``until_line``) that is entirely valid UTF-8 and holds Chinese text, or None.

    In GBK text a whole line that happens to be valid UTF-8 with two adjacent CJK characters is very unlikely, so
    such a line is UTF-8 text: in a GBK file it means mixed encodings."""
    line_base = 1
    tail = b""
    with path.open("rb") as fh:
        while True:
            block = fh.read(_BLOCK)
            data = tail + block
            if not block:
                cut = len(data)
            else:
                cut = data.rfind(b"\n") + 1
                if cut == 0:
                    tail = data
                    continue
            chunk, tail = data[:cut], data[cut:]
            if not chunk.isascii():
                text = chunk.decode("utf-8", "replace")
                m = _UTF8_TEXT_LINE.search(text)
                if m:
                    found = line_base + text.count("\n", 0, m.start())
                    return found if until_line is None or found < until_line else None
            line_base += chunk.count(b"\n")
            if not block or (until_line is not None and line_base >= until_line):
                return None


def _sniff_delimiter(head: bytes, encoding: str) -> str:
    text = head.decode(encoding, "ignore")
    lines = [ln for ln in text.splitlines()[:20] if ln.strip()]
    counts = {d: Counter(ln.count(d) for ln in lines) for d in (",", "\t", ";", "|")}
    best, best_score = ",", -1
    for d, counter in counts.items():
        value, freq = max(counter.items(), key=lambda kv: (kv[1], kv[0])) if counter else (0, 0)
        score = freq * (value > 0)
        if score > best_score or (score == best_score and d == ","):
            best, best_score = d, score
    return best


# ---------------------------------------------------------------------------------------------------------------
# read_table
# ---------------------------------------------------------------------------------------------------------------

_TOTAL = re.compile(r"^\s*(?:本页|本月|全部|总)?\s*(?:合\s*计|总\s*计|小\s*计|累\s*计|共\s*计|total|sum|subtotal)\b",
                    re.I)
_NUMBERISH = re.compile(r"^[\s\d,.\-+/:年月日％%¥￥元()（）]*$")


@dataclass
class Table:
    """A table found in a file: its header row, the title lines above it and a chunked iterator over its rows."""

    headers: list[str]
    title_lines: list[str]
    header_row: int  # 1-based line (CSV) or row (Excel) number of the header
    info: FileInfo
    chunk_rows: int = 50_000
    sheet_name: str | None = None
    #: Rows dropped while iterating: 'blank', 'total' (合计 / 总计 / 小计 ...), 'repeated_header'.
    dropped: Counter = field(default_factory=Counter)
    _path: Path | None = None
    _source: object = None

    @property
    def dropped_rows(self) -> int:
        return sum(self.dropped.values())

    def iter_chunks(self) -> Iterator[pd.DataFrame]:
        """DataFrames of raw strings (None for an empty cell), one column per header, plus ``_row`` (int) and
        ``_formula_no_value`` (str); at most ``chunk_rows`` rows each. Iterate once."""
        self.dropped.clear()
        rows = self._csv_rows() if self.info.format == CSV else self._sheet_rows()
        batch: list[list] = []
        width = len(self.headers)
        header_keys = [normalise_header(h) for h in self.headers]
        for number, cells, formulas in rows:
            cells = _fit(cells, width)
            reason = _drop_reason(cells, header_keys)
            if reason:
                self.dropped[reason] += 1
                continue
            batch.append([*cells, number, "|".join(self.headers[i] for i in formulas if i < width)])
            if len(batch) >= self.chunk_rows:
                yield self._frame(batch)
                batch = []
        if batch:
            yield self._frame(batch)

    def _frame(self, batch: list[list]) -> pd.DataFrame:
        df = pd.DataFrame(batch, columns=[*self.headers, ROW, FORMULA_NO_VALUE], dtype=object)
        df[ROW] = df[ROW].astype("int64")
        return df

    def _csv_rows(self) -> Iterator[tuple[int, list, tuple]]:
        assert self._path is not None
        with self._path.open("r", encoding=self.info.encoding, newline="") as fh:
            reader = csv.reader(fh, delimiter=self.info.delimiter or ",")
            for number, cells in enumerate(reader, start=1):
                if number <= self.header_row:
                    continue
                yield number, [c if c != "" else None for c in cells], ()

    def _sheet_rows(self) -> Iterator[tuple[int, list, tuple]]:
        sheet = self._source
        for number, cells in enumerate(sheet.iter_rows(), start=1):
            if number <= self.header_row:
                continue
            yield number, [_cell_text(c) for c in cells], ()


def _fit(cells: list, width: int) -> list:
    if len(cells) < width:
        return cells + [None] * (width - len(cells))
    if len(cells) > width:
        extra = [c for c in cells[width:] if c not in (None, "")]
        cells = cells[:width]
        if extra:  # more cells than headers: keep them visible in the last column rather than lose them
            cells[-1] = " | ".join(str(c) for c in [cells[-1], *extra] if c not in (None, ""))
    return cells


def _drop_reason(cells: list, header_keys: list[str]) -> str | None:
    texts = [c.strip() if isinstance(c, str) else c for c in cells]
    filled = [t for t in texts if t not in (None, "")]
    if not filled:
        return "blank"
    for t in filled[:3]:
        if isinstance(t, str) and _TOTAL.match(unicodedata.normalize("NFKC", t)):
            return "total"
    if len(filled) >= 2 and [normalise_header(t) for t in texts] == header_keys:
        return "repeated_header"
    return None


def _cell_text(value) -> str | None:
    """A cell's value as the raw text a CSV would hold (dates ISO, integral floats without '.0')."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    return str(value)


def _looks_like_header(cells: list) -> bool:
    texts = [str(c).strip() for c in cells if c not in (None, "") and str(c).strip()]
    if len(texts) < 2:
        return False
    known = sum(1 for t in texts if is_known_header(t))
    wordy = sum(1 for t in texts if not _NUMBERISH.match(t))
    return known >= 2 and wordy >= 0.6 * len(texts)


def _find_header(rows: list[list]) -> int | None:
    for i, cells in enumerate(rows):
        if _looks_like_header(cells):
            return i
    return None


def read_table(path: str | Path, info: FileInfo, *, chunk_rows: int = 50_000) -> Table:
    """Find the header row (below title rows) of an inspected file and return a chunked :class:`Table`.

    Raises :class:`FileRejected`: ``no_header`` when none of the first rows looks like a header (mostly text cells,
    at least two of them known header words), ``header_only`` when no data row follows, ``no_sheet`` for a
    workbook without data, ``corrupt`` / ``encrypted`` when the workbook cannot be opened.
    """
    path = Path(path)
    if info.format == CSV:
        top = _csv_top(path, info)
        source = None
        sheet_name = None
    else:
        source, sheet_name, top = _open_sheet(path)
    idx = _find_header(top)
    if idx is None:
        raise _reject("no_header", rows=HEADER_SCAN_ROWS)
    headers = _unique_headers(top[idx])
    title_lines = [" ".join(str(c).strip() for c in row if c not in (None, "") and str(c).strip())
                   for row in top[:idx]]
    title_lines = [t for t in title_lines if t]
    table = Table(headers, title_lines, idx + 1, info, chunk_rows, sheet_name, _path=path, _source=source)
    header_keys = [normalise_header(h) for h in headers]
    if all(_drop_reason(_fit(list(r), len(headers)), header_keys) for r in top[idx + 1:]) and len(top) < _TOP_ROWS:
        raise _reject("header_only")
    return table


_TOP_ROWS = 200


def _csv_top(path: Path, info: FileInfo) -> list[list]:
    rows = []
    try:
        with path.open("r", encoding=info.encoding, newline="") as fh:
            reader = csv.reader(fh, delimiter=info.delimiter or ",")
            for cells in reader:
                rows.append([c if c != "" else None for c in cells])
                if len(rows) >= _TOP_ROWS:
                    break
    except csv.Error as exc:
        raise _reject("malformed", line=len(rows) + 1, detail=str(exc)) from None
    return rows


def _open_sheet(path: Path):
    from python_calamine import CalamineWorkbook

    try:
        wb = CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # noqa: BLE001 - calamine raises its own error types for every damage
        name = type(exc).__name__
        if "Password" in name:
            raise _reject("encrypted") from None
        raise _reject("corrupt", detail=f"{name}: {str(exc)[:100]}") from None
    for name in wb.sheet_names:
        try:
            sheet = wb.get_sheet_by_name(name)
        except Exception as exc:  # noqa: BLE001
            raise _reject("corrupt", detail=f"{type(exc).__name__}: {str(exc)[:100]}") from None
        top = []
        for cells in sheet.iter_rows():
            top.append([_cell_text(c) for c in cells])
            if len(top) >= _TOP_ROWS:
                break
        if any(any(c is not None for c in row) for row in top):
            return sheet, name, top
    raise _reject("no_sheet")


def _unique_headers(cells: list) -> list[str]:
    headers: list[str] = []
    seen: Counter = Counter()
    last = max((i for i, c in enumerate(cells) if c not in (None, "")), default=-1)
    for i, cell in enumerate(cells[:last + 1]):
        text = _SPACE_RUN.sub(" ", str(cell)).strip() if cell not in (None, "") else f"列{i + 1}"
        seen[text] += 1
        headers.append(text if seen[text] == 1 else f"{text}_{seen[text]}")
    return headers


_SPACE_RUN = re.compile(r"\s+")
