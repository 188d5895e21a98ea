"""File intake: decide whether a received file is a table we can read safely, then read it in bounded chunks.

Pure (no Flask, no database). Two steps, both raising :class:`FileRejected` with a code and a translated message
for a file that must not be processed:

* :func:`inspect_file` looks at the bytes, never at the extension: size limits (checked from the file system before
  reading anything), magic bytes (a renamed .exe, PDF or image is refused), the zip container of an .xlsx (declared
  uncompressed sizes and compression ratios checked BEFORE any reader opens it: a zip bomb is refused), encrypted
  or corrupt workbooks, and for CSV the encoding (UTF-8, UTF-8 with BOM, GBK / GB18030), the whole file verified so
  that an undecodable or mixed-encoding line is named.
* :func:`read_table` finds the header row below any title rows (the first of the top rows that is mostly text
  with at least two known header words) and returns a :class:`Table` whose :meth:`Table.iter_chunks` yields
  pandas DataFrames of raw strings (one column per header plus ``_row``, the 1-based line / row number in the
  file, and ``_extra_cells``, the text of cells beyond the last header), at most ``chunk_rows`` rows each, so
  memory stays bounded whatever the file size: CSV through pyarrow's streaming reader, .xlsx through calamine
  or, for a big sheet, a streaming expat reader; .xls through calamine. Footer rows (合计 / 总计 / 小计), blank
  rows and repeated header rows are dropped and counted in ``Table.dropped``, never returned as data; rows with
  too few or too many cells are kept (padded / surplus in ``_extra_cells``). Formulas are never evaluated: the
  cached value is read, and a cell holding a formula without a cached value is listed in the
  ``_formula_no_value`` column (the headers of such cells, joined by ``|``; empty otherwise), which cleaning
  turns into the row problem ``formula_no_value``.
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
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from flask_babel import lazy_gettext as _l

from ingestion.mapping import is_known_header, normalise_header

if TYPE_CHECKING:  # pyarrow is imported where a CSV is read
    import pyarrow as pa

CSV, XLSX, XLS = "csv", "xlsx", "xls"
ROW = "_row"
FORMULA_NO_VALUE = "_formula_no_value"
EXTRA_CELLS = "_extra_cells"
#: Cells beyond the last header that a CSV row may have (a trailing comma, a shifted row) before it is malformed.
SPARE_COLUMNS = 8

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

    UTF-8 is tried first (strictly, over every byte). When it fails, a line of valid UTF-8 Chinese text anywhere
    means mixed encodings (``mixed_encoding``, naming the first line that breaks the pattern); otherwise
    charset-normalizer judges a sample (Big5 or Shift-JIS also decode as GB18030, as mojibake:
    ``unsupported_encoding``) and the whole file must decode strictly as GB18030, a superset of GBK and GB2312
    (``undecodable`` names the first line that does not).
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
    utf8_line = _first_utf8_text_line(path)
    if utf8_line is not None:  # UTF-8 Chinese text after the first non-UTF-8 line
        raise _reject("mixed_encoding", line=utf8_line, expected="GBK")
    guess = _guess_legacy(path, offset)
    if guess is not None and guess != "gb18030":  # Big5 / Shift-JIS also decode as GB18030, as mojibake
        raise _reject("unsupported_encoding", encoding=guess)
    bad, bad_line = _first_error(path, "gb18030")
    if bad is not None:
        raise _reject("undecodable", line=bad_line)
    return "gb18030"


def _first_error(path: Path, encoding: str, skip: int = 0) -> tuple[int | None, int | None]:
    """Offset and 1-based line number of the first byte that does not decode strictly, or (None, None).

    Blocks are cut after their last newline so that no character is split, and each is decoded whole (so the
    error position is exact for every codec, multibyte ones included)."""
    pos, lines, tail = skip, 1, b""
    with path.open("rb") as fh:
        fh.seek(skip)
        while True:
            block = fh.read(_BLOCK)
            data = tail + block
            cut = len(data) if not block else data.rfind(b"\n") + 1
            if block and cut == 0:
                tail = data
                continue
            part, tail = data[:cut], data[cut:]
            try:
                part.decode(encoding)
            except UnicodeDecodeError as exc:
                return pos + exc.start, lines + part.count(b"\n", 0, exc.start)
            if not block:
                return None, None
            pos += len(part)
            lines += part.count(b"\n")


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


_CJK_PAIR = re.compile(r"[\u4e00-\u9fff]{2}")
#: Two adjacent characters of U+4E00-U+9FFF in UTF-8 (a slight superset): what such a line's bytes must contain.
_UTF8_CJK_PAIR = re.compile(rb"[\xe4-\xe9][\x80-\xbf]{2}[\xe4-\xe9][\x80-\xbf]{2}")


def _first_utf8_text_line(path: Path, until_line: int | None = None) -> int | None:
    """The first line (before ``until_line``) that is entirely valid UTF-8 and holds Chinese text, or None.

    In GBK text a whole line that happens to be valid UTF-8 with two adjacent CJK characters is very unlikely, so
    such a line is UTF-8 text: in a GBK file it means mixed encodings. The bytes are searched for what such a
    line must contain, and only the lines found are decoded (decoding the whole file and searching the text cost
    three times as much)."""
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
            pos = 0
            while (m := _UTF8_CJK_PAIR.search(chunk, pos)) is not None:
                start = chunk.rfind(b"\n", 0, m.start()) + 1
                end = chunk.find(b"\n", m.end())
                end = len(chunk) if end < 0 else end
                try:
                    line = chunk[start:end].decode("utf-8")
                except UnicodeDecodeError:
                    line = ""
                if "\ufffd" not in line and _CJK_PAIR.search(line):
                    found = line_base + chunk.count(b"\n", 0, start)
                    return found if until_line is None or found < until_line else None
                pos = end + 1
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
_TOTAL_HINT = r"计|total|sum"
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
    _formula_cells: dict[int, set[int]] = field(default_factory=dict)  # row number → column indexes
    _csv_width: int = 0  # the usual number of cells of a CSV data row (may exceed the headers)
    _first_column: int = 0  # leading columns empty in every top row (a streamed sheet keeps them)
    _origin: int = 0  # the sheet column of the reader's first cell (calamine starts at the first used column)
    _block_size: int = 1 << 20  # see read_table

    @property
    def dropped_rows(self) -> int:
        return sum(self.dropped.values())

    def iter_chunks(self) -> Iterator[pd.DataFrame]:
        """DataFrames of raw strings (dtype str or object; an empty cell is "" or None), one column per header,
        plus ``_row`` (int64: the line / row number in the file; for a CSV, the record number, which is the line
        number unless a quoted cell spans lines), ``_formula_no_value`` (str, see the module docstring) and
        ``_extra_cells`` (the text of cells beyond the last header, "" when none); at most ``chunk_rows`` rows
        each. Dropped rows are counted in :attr:`dropped` as the iteration goes. Iterate once."""
        self.dropped.clear()
        frames = self._csv_frames() if self.info.format == CSV else self._sheet_frames()
        for df in frames:
            df = self._drop_non_data(df)
            if len(df):
                yield df.reset_index(drop=True)

    @property
    def _header_keys(self) -> list[str]:
        return [normalise_header(h) for h in self.headers]

    def _drop_non_data(self, df: pd.DataFrame) -> pd.DataFrame:
        """Drop (and count) blank rows, 合计 / 总计 / 小计 rows and repeated header rows. Vectorised with the
        string methods (C for pyarrow-backed columns); the exact tests run only on the few candidate cells."""
        n = len(df)
        width = len(self.headers)
        filled = np.zeros((n, width), dtype=bool)
        totalish = np.zeros_like(filled)
        stripped = []
        for j, header in enumerate(self.headers):
            col = df[header].fillna("").astype(str).str.strip()
            stripped.append(col)
            filled[:, j] = (col != "").to_numpy(dtype=bool)
            # Only a row's first three non-empty cells can say 合计: look further right only where needed.
            look = filled[:, j] & (filled[:, :j].sum(axis=1) < 3)
            if not look.any():
                continue
            part = col if look.all() else col[look]
            hits = part.str.contains(_TOTAL_HINT, case=False, regex=True).to_numpy(dtype=bool)
            for i in np.flatnonzero(look)[hits]:
                totalish[i, j] = bool(_TOTAL.match(unicodedata.normalize("NFKC", col.iat[i])))
        extra = df[EXTRA_CELLS].fillna("").to_numpy(dtype=object) != ""
        blank = ~filled.any(axis=1) & ~extra
        first3 = filled & (np.cumsum(filled, axis=1) <= 3)
        total = (totalish & first3).any(axis=1) & ~blank
        repeated = np.zeros(n, dtype=bool)
        keys = self._header_keys
        anchor = next((j for j, k in enumerate(keys) if k), None)
        if anchor is not None:
            col = stripped[anchor]
            hits = np.flatnonzero(((col == self.headers[anchor]) | (col.str.len() < 2 * len(keys[anchor]) + 4)
                                   & col.str.contains(re.escape(self.headers[anchor][:1]), regex=True))
                                  .to_numpy(dtype=bool))
            for i in hits:
                repeated[i] = all(normalise_header(stripped[j].iat[i]) == k for j, k in enumerate(keys) if k)
        repeated &= ~blank & ~total
        for reason, mask in (("blank", blank), ("total", total), ("repeated_header", repeated)):
            if count := int(mask.sum()):
                self.dropped[reason] += count
        drop = blank | total | repeated
        return df[~drop] if drop.any() else df

    def _csv_frames(self) -> Iterator[pd.DataFrame]:
        """Stream a CSV with pyarrow's reader (C++; about 4x pandas' C parser on this machine). Rows whose number
        of cells differs from the table's are handed to the invalid-row handler, parsed with :mod:`csv` and put
        back in their place, padded or with their surplus in ``_extra_cells``, so no row is lost."""
        import pyarrow as pa
        import pyarrow.csv as pacsv

        assert self._path is not None
        width = max(len(self.headers), self._csv_width)
        names = [f"_c{i}" for i in range(width)]
        odd: list[tuple[int, str]] = []

        def keep_odd(row) -> str:
            odd.append((row.number, row.text))
            return "skip"

        read = pacsv.ReadOptions(skip_rows=self.header_row, column_names=names, use_threads=False,
                                 block_size=self._block_size, encoding=_ARROW_ENCODINGS.get(self.info.encoding,
                                                                                            self.info.encoding))
        parse = pacsv.ParseOptions(delimiter=self.info.delimiter or ",", newlines_in_values=True,
                                   ignore_empty_lines=False, invalid_row_handler=keep_odd)
        convert = pacsv.ConvertOptions(column_types={c: pa.string() for c in names}, strings_can_be_null=False,
                                       quoted_strings_can_be_null=False)
        next_number = self.header_row + 1
        # parsed blocks not yet a whole chunk (a frame where invalid rows were put back), with their line numbers
        pending: list[tuple[pa.RecordBatch | pd.DataFrame, np.ndarray]] = []
        held = 0
        try:
            reader = pacsv.open_csv(self._path, read_options=read, parse_options=parse, convert_options=convert)
            for batch in reader:
                # The parser may hand over invalid rows of a block it reads ahead, so the rows collected so far
                # are not all this batch's: the batch's valid rows take the first free numbers from next_number,
                # and only the invalid rows numbered before the last of them are put back into this batch.
                odd.sort(key=lambda r: r[0])
                skipped_all = np.array([number for number, _ in odd], dtype="int64")
                span = np.arange(next_number, next_number + batch.num_rows + len(odd), dtype="int64")
                numbers = np.setdiff1d(span, skipped_all, assume_unique=True)[:batch.num_rows]
                last = int(numbers[-1]) if len(numbers) else next_number - 1
                got = [r for r in odd if r[0] <= last]
                odd = [r for r in odd if r[0] > last]
                next_number = last + 1
                piece = batch
                if got:
                    skipped = np.array([number for number, _ in got], dtype="int64")
                    frame = pd.concat([batch.to_pandas().astype(object), self._odd_rows(got, names)],
                                      ignore_index=True)
                    numbers = np.concatenate([numbers, skipped])
                    order = np.argsort(numbers, kind="stable")
                    piece, numbers = frame.iloc[order].reset_index(drop=True), numbers[order]
                pending.append((piece, numbers))
                held += len(piece)
                if held >= self.chunk_rows:
                    yield from self._chunks(pending, last=False)
                    held = sum(len(f) for f, _n in pending)
            yield from self._chunks(pending, last=True)
            if odd:  # invalid rows after the last batch
                odd.sort(key=lambda r: r[0])
                frame = self._odd_rows(odd, names)
                yield self._finish(frame, np.array([number for number, _ in odd], dtype="int64"))
        except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
            raise _reject("malformed", line=next_number, detail=str(exc).splitlines()[0][:120]) from None

    def _chunks(self, pending: list[tuple[pa.RecordBatch | pd.DataFrame, np.ndarray]],
                last: bool) -> Iterator[pd.DataFrame]:
        """The whole chunks of ``chunk_rows`` rows in the parsed blocks ``pending`` (all of them when ``last``);
        the rest is left in ``pending``. Blocks that are all batches are joined and cut by pyarrow and each chunk
        converted to pandas once (a conversion per small block cost a third more reading time)."""
        import pyarrow as pa

        if not pending:
            return
        numbers = np.concatenate([n for _f, n in pending]) if len(pending) > 1 else pending[0][1]
        if all(isinstance(f, pa.RecordBatch) for f, _n in pending):
            joined = pa.concat_batches([f for f, _n in pending]) if len(pending) > 1 else pending[0][0]

            def take(lo: int, hi: int):
                return joined.slice(lo, hi - lo)  # shares the joined buffers

            def as_frame(part):
                return part.to_pandas()
        else:
            joined = pd.concat([f if isinstance(f, pd.DataFrame) else f.to_pandas() for f, _n in pending],
                               ignore_index=True)

            def take(lo: int, hi: int):
                return joined.iloc[lo:hi].reset_index(drop=True)

            def as_frame(part):
                return part
        pending.clear()
        size = len(joined)
        whole = size if last else size - size % self.chunk_rows
        for lo in range(0, whole, self.chunk_rows):
            hi = min(lo + self.chunk_rows, whole)
            yield self._finish(as_frame(take(lo, hi)), numbers[lo:hi])
        if whole < size:  # the rest (a batch or a frame) waits for the next blocks
            pending.append((take(whole, size), numbers[whole:]))

    def _odd_rows(self, rows: list[tuple[int, str]], names: list[str]) -> pd.DataFrame:
        width = len(names)
        out = []
        for _number, text in rows:
            cells = next(csv.reader([text], delimiter=self.info.delimiter or ","), [])
            extra = " | ".join(c.strip() for c in cells[width:] if c.strip())
            out.append([*cells[:width], *[""] * (width - len(cells)), extra])
        return pd.DataFrame(out, columns=[*names, EXTRA_CELLS], dtype=object)

    def _finish(self, cells: pd.DataFrame, rows: np.ndarray, formulas=None) -> pd.DataFrame:
        width = len(self.headers)
        df = cells.iloc[:, :width].copy()
        df.columns = self.headers
        extra = cells[EXTRA_CELLS] if EXTRA_CELLS in cells.columns else None
        surplus = [c for c in cells.columns[width:] if c != EXTRA_CELLS]
        if surplus:  # cells beyond the last header, joined
            values = cells[surplus].fillna("").astype(object).to_numpy()
            joined = np.array([" | ".join(str(v).strip() for v in row if str(v).strip()) for row in values]
                              if (values != "").any() else [""] * len(values), dtype=object)
            if extra is not None:
                prior = extra.fillna("").to_numpy(dtype=object)
                joined = np.where(prior != "", prior, joined)
            df[EXTRA_CELLS] = joined
        else:
            df[EXTRA_CELLS] = extra.fillna("").to_numpy(dtype=object) if extra is not None else ""
        df[ROW] = rows.astype("int64")
        df[FORMULA_NO_VALUE] = "" if formulas is None else formulas
        return df

    def _sheet_frames(self) -> Iterator[pd.DataFrame]:
        source = self._source
        width = len(self.headers) + SPARE_COLUMNS
        batch: list[list] = []
        numbers: list[int] = []
        if isinstance(source, _XlsxStream):
            rows = ((n, cells, formulas) for n, cells, formulas in source.rows())
        else:
            rows = ((n, [_cell_text(c) for c in cells], ()) for n, cells in enumerate(source.iter_rows(), start=1))
        skip = self._first_column
        for number, cells, formulas in rows:
            if number <= self.header_row:
                continue
            if formulas:
                self._formula_cells[number] = set(formulas)
            row = [c or "" for c in cells[skip:skip + width]]
            if len(row) < width:
                row.extend([""] * (width - len(row)))
            batch.append(row)
            numbers.append(number)
            if len(batch) >= self.chunk_rows:
                yield self._sheet_frame(batch, numbers)
                batch, numbers = [], []
        if batch:
            yield self._sheet_frame(batch, numbers)

    def _sheet_frame(self, batch: list[list], numbers: list[int]) -> pd.DataFrame:
        rows = np.asarray(numbers, dtype="int64")
        formulas = None
        if self._formula_cells:
            skip, width = self._first_column + self._origin, len(self.headers)
            formulas = np.array(["|".join(self.headers[c - skip] for c in sorted(self._formula_cells.get(n, ()))
                                          if 0 <= c - skip < width) for n in numbers], dtype=object)
        return self._finish(pd.DataFrame(batch, dtype=object), rows, formulas)


_ARROW_ENCODINGS = {"utf-8": "utf8", "utf-8-sig": "utf8"}


def _is_data_row(cells: list, header_keys: list[str]) -> bool:
    """The scalar twin of Table._drop_non_data, for the rows read ahead of the table."""
    texts = [str(c).strip() for c in cells if c is not None and str(c).strip()]
    if not texts:
        return False
    if any(_TOTAL.match(unicodedata.normalize("NFKC", t)) for t in texts[:3]):
        return False
    return [normalise_header(c) for c in cells[:len(header_keys)]] != header_keys


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
    for i, cells in enumerate(rows[:HEADER_SCAN_ROWS]):
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
    skip = _leading_empty_columns(top) if info.format != CSV else 0
    table_first_column = skip
    top = [row[skip:] for row in top]
    idx = _find_header(top)
    if idx is None:
        raise _reject("no_header", rows=HEADER_SCAN_ROWS)
    headers = _unique_headers(top[idx])
    title_lines = [" ".join(str(c).strip() for c in row if c not in (None, "") and str(c).strip())
                   for row in top[:idx]]
    title_lines = [t for t in title_lines if t]
    table = Table(headers, title_lines, idx + 1, info, chunk_rows, sheet_name, _path=path, _source=source,
                  _first_column=table_first_column)
    if info.format == CSV:
        counts = Counter(len(r) for r in top[idx + 1:] if any(c not in (None, "") for c in r))
        table._csv_width = counts.most_common(1)[0][0] if counts else len(headers)
        sample_bytes = sum(len(",".join(c or "" for c in r).encode("utf-8")) + 1 for r in top)
        per_row = sample_bytes / max(len(top), 1)
        # pyarrow's reader reads up to 32 blocks ahead of the caller on a thread of its own: blocks sized to a
        # whole chunk (5.8 MB for the benchmark's lines) held up to ~240 MB of a big file while the load worked,
        # so the blocks are small and :meth:`Table._csv_frames` joins them into chunks
        table._block_size = int(min(max(per_row * 2_000, 1 << 18), 1 << 21))
    elif info.format == XLSX and not isinstance(source, _XlsxStream):
        table._formula_cells = _formulas_without_value(path, sheet_name)
        table._origin = (getattr(source, "start", None) or (0, 0))[1]
    if len(top) < _TOP_ROWS and not any(_is_data_row(r, table._header_keys) for r in top[idx + 1:]):
        raise _reject("header_only")
    return table


_TOP_ROWS = 200


def _leading_empty_columns(rows: list[list]) -> int:
    """How many columns on the left are empty in every row (a streamed sheet starts at column A)."""
    widths = [next((i for i, c in enumerate(row) if c not in (None, "")), None) for row in rows]
    found = [w for w in widths if w is not None]
    return min(found) if found else 0


#: A cell holding a formula and no cached value: <c r="M8"><f>L8*J8</f></c>, <f .../>, an empty <v/> (any prefix).
_FORMULA_NO_VALUE = re.compile(
    rb"<(?:\w+:)?c\b([^>]*)>\s*(?:<(?:\w+:)?f\b[^>]*/>|<(?:\w+:)?f\b[^>]*>[^<]*</(?:\w+:)?f>)\s*"
    rb"(?:<(?:\w+:)?v\s*/>|<(?:\w+:)?v>\s*</(?:\w+:)?v>)?\s*</(?:\w+:)?c>")
_CELL_REF = re.compile(rb'\br="([A-Z]+[0-9]+)"')


def _formulas_without_value(path: Path, sheet_name: str | None) -> dict[int, set[int]]:
    """Cells of the sheet that hold a formula but no cached value: row number → column indexes (0-based).

    Formulas are never evaluated. A sheet written by Excel always caches values; one written by a program may
    not (openpyxl, some exports), and its cells then read as empty. The sheet XML is scanned in blocks (cut after
    a row) with one compiled regular expression, in C.
    """
    member = _sheet_members(path).get(sheet_name, (None, 0))[0]
    if member is None:
        return {}
    result: dict[int, set[int]] = {}
    with zipfile.ZipFile(path) as zf, zf.open(member) as fh:
        tail = b""
        while True:
            block = fh.read(_BLOCK)
            data = tail + block
            cut = len(data) if not block else data.rfind(b"</row>") + 6 * (b"</row>" in data)
            if block and cut == 0:
                tail = data
                continue
            part, tail = data[:cut], data[cut:]
            if b"f>" in part or b"f " in part:
                for m in _FORMULA_NO_VALUE.finditer(part):
                    ref = _CELL_REF.search(m[1])
                    if ref:
                        row, col = _cell_ref(ref[1].decode())
                        result.setdefault(row, set()).add(col)
            if not block:
                return result


_REF = re.compile(r"([A-Za-z]+)(\d+)")
_COLUMNS: dict[str, int] = {}


def _cell_ref(ref: str) -> tuple[int, int]:
    """'M8' → (8, 12): the 1-based row and the 0-based column of an A1 reference."""
    m = _REF.match(ref)
    letters = m[1].upper()
    col = _COLUMNS.get(letters)
    if col is None:
        col = 0
        for ch in letters:
            col = col * 26 + ord(ch) - 64
        col = _COLUMNS[letters] = col - 1
    return int(m[2]), col


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
    """The first worksheet with data: (source, sheet name, its top rows as text). A big .xlsx sheet is streamed
    (:class:`_XlsxStream`, memory bounded by the chunk size); others are loaded whole by calamine (fast)."""
    from python_calamine import CalamineWorkbook

    members = _sheet_members(path) if zipfile.is_zipfile(path) else {}
    try:
        wb = CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # noqa: BLE001 - calamine raises its own error types for every damage
        name = type(exc).__name__
        if "Password" in name:
            raise _reject("encrypted") from None
        raise _reject("corrupt", detail=f"{name}: {str(exc)[:100]}") from None
    for name in wb.sheet_names:
        member = members.get(name)
        if member is not None and member[1] > STREAM_SHEET_BYTES:
            source = _XlsxStream(path, member[0])
            rows = (cells for _n, cells, _f in source.rows())
        else:
            try:
                source = wb.get_sheet_by_name(name)
            except Exception as exc:  # noqa: BLE001
                raise _reject("corrupt", detail=f"{type(exc).__name__}: {str(exc)[:100]}") from None
            rows = ([_cell_text(c) for c in cells] for cells in source.iter_rows())
        top = []
        for cells in rows:
            top.append(cells)
            if len(top) >= _TOP_ROWS:
                break
        if any(any(c not in (None, "") for c in row) for row in top):
            return source, name, top
    raise _reject("no_sheet")


#: A worksheet whose XML is larger than this (roughly 200,000 rows of 12 columns; calamine would hold ~300 MB) is
#: streamed instead of loaded: bounded memory, about 4x the CPU time of calamine.
STREAM_SHEET_BYTES = 128 * 1024 * 1024


def _sheet_members(path: Path) -> dict[str, tuple[str, int]]:
    """Sheet name → (zip member, uncompressed size), from xl/workbook.xml and its relationships."""
    import xml.etree.ElementTree as ET

    with zipfile.ZipFile(path) as zf:
        try:
            book = ET.fromstring(zf.read("xl/workbook.xml"))
            rels = ET.fromstring(zf.read("xl/_rels/workbook.xml.rels"))
        except (KeyError, ET.ParseError):
            return {}
        sizes = {i.filename: i.file_size for i in zf.infolist()}
    targets = {}
    for el in rels.iter():
        if el.tag.endswith("}Relationship"):
            target = el.get("Target", "")
            targets[el.get("Id")] = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
    out = {}
    for el in book.iter():
        if el.tag.endswith("}sheet"):
            rid = next((v for k, v in el.attrib.items() if k.endswith("}id")), None)
            member = targets.get(rid)
            if member in sizes:
                out[el.get("name")] = (member, sizes[member])
    return out


#: Built-in number formats that are dates (including the CJK ones Chinese Excel uses: 27-36, 50-58).
_DATE_FORMAT_IDS = frozenset({*range(14, 23), *range(27, 37), *range(45, 48), *range(50, 59)})
_DATE_CODE = re.compile(r"[dmyhs年月日]")
_QUOTED = re.compile(r'"[^"]*"|\\.|\[[^\]]*\]')


class _XlsxStream:
    """A worksheet read straight from its XML with expat, row by row (memory: the shared strings and one block).

    Values are the cached ones (formulas are never evaluated; a formula cell without a cached value is reported),
    shared and inline strings resolved, numbers in date formats turned into dates: the same text as calamine's
    values through :func:`_cell_text`."""

    def __init__(self, path: Path, member: str):
        self.path, self.member = path, member
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            self.shared = _shared_strings(zf) if "xl/sharedStrings.xml" in names else []
            self.date_styles = _date_styles(zf) if "xl/styles.xml" in names else frozenset()
            book = zf.read("xl/workbook.xml")
        self.epoch = datetime(1904, 1, 1) if re.search(rb'date1904="(1|true)"', book) else datetime(1899, 12, 30)

    def rows(self) -> Iterator[tuple[int, list[str | None], set[int]]]:
        """(row number, cell texts from column A, columns holding a formula without a cached value)."""
        import xml.parsers.expat

        done: list[tuple[int, list, set]] = []
        state = {"row": 0, "cells": {}, "formulas": set(), "col": -1, "ref": None, "t": "n", "s": 0,
                 "text": [], "collect": False, "formula": False, "has_value": False, "in_rph": False}

        local = _LocalNames()

        def start(name, attrs):
            tag = local[name]
            if tag == "row":
                state["row"] = int(attrs.get("r", state["row"] + 1))
                state["cells"], state["formulas"], state["col"] = {}, set(), -1
            elif tag == "c":
                ref = attrs.get("r")
                state["col"] = _cell_ref(ref)[1] if ref else state["col"] + 1
                state["t"], state["s"] = attrs.get("t", "n"), int(attrs.get("s", 0))
                state["text"], state["formula"], state["has_value"] = [], False, False
            elif tag == "f":
                state["formula"] = True
            elif tag in ("v", "t") and not state["in_rph"]:
                state["collect"] = True
            elif tag == "rPh":
                state["in_rph"] = True

        def text(data):
            if state["collect"]:
                state["text"].append(data)

        def end(name):
            tag = local[name]
            if tag in ("v", "t"):
                if state["collect"]:
                    state["has_value"] = True
                state["collect"] = False
            elif tag == "rPh":
                state["in_rph"] = False
            elif tag == "c":
                value = self._value("".join(state["text"]), state["t"], state["s"], state["has_value"])
                if value is not None:
                    state["cells"][state["col"]] = value
                elif state["formula"]:
                    state["formulas"].add(state["col"])
            elif tag == "row":
                cells = state["cells"]
                width = max(cells, default=-1) + 1
                done.append((state["row"], [cells.get(i) for i in range(width)], state["formulas"]))

        parser = xml.parsers.expat.ParserCreate()
        parser.StartElementHandler, parser.EndElementHandler, parser.CharacterDataHandler = start, end, text
        parser.buffer_text = True
        last = 0
        with zipfile.ZipFile(self.path) as zf, zf.open(self.member) as fh:
            while block := fh.read(1 << 16):
                parser.Parse(block, False)
                for row in done:
                    while last + 1 < row[0]:  # rows Excel left out (empty) keep the numbering
                        last += 1
                        yield last, [], set()
                    last = row[0]
                    yield row
                done.clear()
            parser.Parse(b"", True)
            yield from done

    def _value(self, raw: str, kind: str, style: int, has_value: bool) -> str | None:
        if not has_value or raw == "":
            return None
        if kind == "s":
            return self.shared[int(raw)]
        if kind in ("inlineStr", "str", "e"):
            return raw
        if kind == "b":
            return "TRUE" if raw.strip() == "1" else "FALSE"
        number = float(raw)
        if style in self.date_styles and 0 <= number < 2958466:
            moment = self.epoch + timedelta(days=number)
            moment = moment.replace(microsecond=0) if moment.microsecond < 500_000 else (
                moment + timedelta(seconds=1)).replace(microsecond=0)
            return _cell_text(moment)
        return _cell_text(number)


class _LocalNames(dict):
    """x:row → row (an element name without its namespace prefix), computed once per name."""

    def __missing__(self, name: str) -> str:
        self[name] = value = name.rsplit(":", 1)[-1]
        return value


def _shared_strings(zf: zipfile.ZipFile) -> list[str]:
    import xml.parsers.expat

    out: list[str] = []
    state = {"parts": [], "collect": False, "in_rph": False}

    def start(name, attrs):
        tag = name.rsplit(":", 1)[-1]
        if tag == "si":
            state["parts"] = []
        elif tag == "t" and not state["in_rph"]:
            state["collect"] = True
        elif tag == "rPh":
            state["in_rph"] = True

    def end(name):
        tag = name.rsplit(":", 1)[-1]
        if tag == "t":
            state["collect"] = False
        elif tag == "rPh":
            state["in_rph"] = False
        elif tag == "si":
            out.append("".join(state["parts"]))

    def text(data):
        if state["collect"]:
            state["parts"].append(data)

    parser = xml.parsers.expat.ParserCreate()
    parser.StartElementHandler, parser.EndElementHandler, parser.CharacterDataHandler = start, end, text
    parser.buffer_text = True
    with zf.open("xl/sharedStrings.xml") as fh:
        parser.ParseFile(fh)
    return out


def _date_styles(zf: zipfile.ZipFile) -> frozenset[int]:
    """Indexes of the cell formats (cellXfs) whose number format is a date or time."""
    import xml.etree.ElementTree as ET

    root = ET.fromstring(zf.read("xl/styles.xml"))
    custom = {}
    for el in root.iter():
        if el.tag.endswith("}numFmt"):
            custom[int(el.get("numFmtId", -1))] = el.get("formatCode", "")
    dates = set()
    for block in root.iter():
        if block.tag.endswith("}cellXfs"):
            for i, xf in enumerate(x for x in block if x.tag.endswith("}xf")):
                fmt = int(xf.get("numFmtId", 0))
                code = _QUOTED.sub("", custom.get(fmt, "")).lower()
                if fmt in _DATE_FORMAT_IDS or (fmt in custom and _DATE_CODE.search(code) and "general" not in code):
                    dates.add(i)
    return frozenset(dates)


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
