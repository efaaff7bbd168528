"""Reading one sheet of an XLSX list as a stream, within :class:`ListLimits`.

An XLSX is a zip of XML parts. The sheet's declared ``<dimension>`` is never trusted (a
1.5 KB file can declare 16,384 × 1,048,576 cells), and no part is held whole: the sheet and
the shared strings are inflated 1 MB at a time, counting the bytes actually inflated
against ``max_unpacked_mb`` (the sizes the archive declares are checked first, and Python's
zip reader stops at them), and parsed by expat into a handful of counters — no element
tree, so one row of a million cells costs no more memory than one cell. A cell beyond the
column limit, a row beyond the row limit, or more filled cells than the cell limit refuses
the file at that point, in one line.

Only the small parts (content types, workbook, relationships, styles — needed for sheet
names and for which numbers are dates) are read by openpyxl, each at most
:data:`SMALL_PART_BYTES`.

Every cell is read as the text it shows: whole numbers without ``.0``, dates ISO, booleans
``TRUE``/``FALSE``, formulas as their cached result. Blank rows inside the list are kept
(blank rows after it are not): row *n* of the sheet is row *n − 1* of the list.
"""

from __future__ import annotations

import io
import re
import zipfile
from array import array
from datetime import date, datetime, time
from typing import Any
from xml.etree.ElementTree import ParseError, XMLParser

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hde_core.errors import InputError
from hde_core.lists.limits import ListLimits, some_names
from hde_core.lists.strings import StringTable

SMALL_PART_BYTES = 32 * 1024 * 1024
CHUNK_BYTES = 1024 * 1024
#: Filled cells kept as Python strings before they move into an Arrow array.
FLUSH_CELLS = 65_536

_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_ROW, _C, _V, _IS, _T, _RPH, _SI = (_NS + t for t in ("row", "c", "v", "is", "t", "rPh", "si"))
_MAIN_PREFIX = re.compile(
    rb'xmlns:([A-Za-z_][\w.-]*)="http://schemas\.openxmlformats\.org/spreadsheetml/2006/main"'
)
#: Rows in one Excel sheet.
EXCEL_ROWS = 1_048_576
_LETTERS = {chr(ord("A") + i): i + 1 for i in range(26)}


def read_sheet(
    data: bytes, name: str, sheet: str | None, limits: ListLimits
) -> tuple[list[str], pa.Table, str]:
    """Header cells, body (one string column per header position) and the sheet's title."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise InputError("lists.error.not_a_list", name=name) from exc
    if sum(i.file_size for i in infos) > limits.max_unpacked_bytes:
        raise limits.unpacked_too_large(name)
    with archive:
        book = _Book(archive, name, limits)
        title, path = book.choose(sheet)
        budget = _Budget(limits, name)
        _count_rows(archive, path, budget, limits, name)
        shared = book.shared_strings(budget)
        cells = _SheetCells(
            shared, book.date_styles, book.timedelta_styles, book.epoch, limits, name
        )
        _parse(archive, path, cells, None, name)
    header, body = cells.table(name, limits)
    return header, body, title


class _Budget:
    """Bytes inflated so far, against the limit (the archive's declared sizes may lie)."""

    def __init__(self, limits: ListLimits, name: str) -> None:
        self.left = limits.max_unpacked_bytes
        self.limits = limits
        self.name = name

    def take(self, size: int) -> None:
        self.left -= size
        if self.left < 0:
            raise self.limits.unpacked_too_large(self.name)


def _count_rows(
    archive: zipfile.ZipFile, path: str, budget: _Budget, limits: ListLimits, name: str
) -> None:
    """Inflate the sheet once without parsing it: its real size against the budget, and its
    ``<row`` tags against the row limit — 8 million rows are refused in about a second
    instead of being parsed for a minute. A sheet Excel wrote has at most
    :data:`EXCEL_ROWS` row elements, so below that the parse counts rows itself (a row
    element can be an empty, formatted row)."""
    most = max(limits.max_rows + 1, EXCEL_ROWS)
    token = b"<row"
    count = 0
    tail = b""
    first = True
    try:
        with archive.open(path) as stream:
            while chunk := stream.read(CHUNK_BYTES):
                budget.take(len(chunk))
                if first:
                    first = False
                    prefix = _MAIN_PREFIX.search(chunk)
                    if prefix:
                        token = b"<" + prefix.group(1) + b":row"
                window = tail + chunk
                count += window.count(token)
                tail = window[-(len(token) - 1) :]
                if count > most:
                    limits.check_rows(count - 1, name)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise InputError("lists.error.not_a_list", name=name) from exc


def _parse(
    archive: zipfile.ZipFile, path: str, target: Any, budget: _Budget | None, name: str
) -> None:
    parser = XMLParser(target=target)
    try:
        with archive.open(path) as stream:
            while chunk := stream.read(CHUNK_BYTES):
                if budget is not None:
                    budget.take(len(chunk))
                parser.feed(chunk)
        parser.close()
    except (ParseError, zipfile.BadZipFile, OSError, ValueError, IndexError, KeyError) as exc:
        raise InputError("lists.error.not_a_list", name=name) from exc


class _Book:
    """Sheet names and paths, the date styles and the epoch, from the small parts."""

    def __init__(self, archive: zipfile.ZipFile, name: str, limits: ListLimits) -> None:
        from openpyxl.styles.stylesheet import apply_stylesheet
        from openpyxl.utils.exceptions import InvalidFileException

        self.archive = archive
        self.name = name
        self.limits = limits
        sizes = {i.filename: i.file_size for i in archive.infolist()}
        try:
            reader = _reader_for(archive)
            reader.read_manifest()
            self.strings_path = _shared_strings_path(reader)
            for part, size in sizes.items():
                if size > SMALL_PART_BYTES and not _streamed(part, self.strings_path):
                    raise limits.unpacked_too_large(name)
            reader.read_workbook()
            apply_stylesheet(reader.archive, reader.wb)
            self.sheets = [
                (sheet.name, rel.target)
                for sheet, rel in reader.parser.find_sheets()
                if rel.target in sizes and "chartsheet" not in rel.Type
            ]
        except InputError:
            raise
        except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, ValueError,
                TypeError, AttributeError, ParseError) as exc:  # fmt: skip
            raise InputError("lists.error.not_a_list", name=name) from exc
        wb = reader.wb
        self.date_styles = frozenset(wb._date_formats)
        self.timedelta_styles = frozenset(wb._timedelta_formats)
        self.epoch = wb.epoch
        if not self.sheets:
            raise InputError("lists.error.not_a_list", name=name)

    def choose(self, sheet: str | None) -> tuple[str, str]:
        names = [n for n, _ in self.sheets]
        if sheet is None:
            return self.sheets[0]
        for title, path in self.sheets:
            if title == sheet:
                return title, path
        raise InputError(
            "lists.error.sheet_not_found", name=self.name, sheet=sheet, sheets=some_names(names)
        )

    def shared_strings(self, budget: _Budget) -> StringTable:
        if self.strings_path is None:
            return StringTable()
        target = _SharedStrings(self.limits.max_cells, self.limits, self.name)
        _parse(self.archive, self.strings_path, target, budget, self.name)
        return target.strings


def _reader_for(archive: zipfile.ZipFile) -> Any:
    from openpyxl.reader.excel import ExcelReader

    reader = ExcelReader.__new__(ExcelReader)
    reader.archive = archive
    reader.valid_files = archive.namelist()
    reader.read_only = True
    reader.keep_vba = False
    reader.data_only = True
    reader.keep_links = False
    reader.rich_text = False
    reader.shared_strings = []
    return reader


def _shared_strings_path(reader: Any) -> str | None:
    from openpyxl.xml.constants import SHARED_STRINGS

    part = reader.package.find(SHARED_STRINGS)
    return str(part.PartName[1:]) if part is not None else None


def _streamed(part: str, strings_path: str | None) -> bool:
    return part == strings_path or part.startswith("xl/worksheets/") or part.endswith(".bin")


class _SharedStrings:
    """expat target: the text of every ``<si>`` (runs joined, phonetic hints left out)."""

    def __init__(self, most: int, limits: ListLimits, name: str) -> None:
        self.strings = StringTable()
        self.parts: list[str] = []
        self.capture = False
        self.phonetic = 0
        self.most = most
        self.limits = limits
        self.name = name

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        if tag == _T:
            self.capture = not self.phonetic
        elif tag == _RPH:
            self.phonetic += 1
        elif tag == _SI:
            self.parts = []

    def end(self, tag: str) -> None:
        if tag == _T:
            self.capture = False
        elif tag == _RPH:
            self.phonetic -= 1
        elif tag == _SI:
            self.strings.append("".join(self.parts).replace("x005F_", ""))
            if len(self.strings) > self.most:
                raise InputError(
                    "lists.error.too_many_strings", name=self.name, limit=f"{self.most:,}"
                )

    def data(self, text: str) -> None:
        if self.capture:
            self.parts.append(text)

    def close(self) -> None:
        return None


class _SheetCells:
    """expat target: every filled cell as (row, column, text), within the limits."""

    def __init__(
        self,
        shared: StringTable,
        date_styles: frozenset[int],
        timedelta_styles: frozenset[int],
        epoch: datetime,
        limits: ListLimits,
        name: str,
    ) -> None:
        self.shared = shared
        self.date_styles = date_styles
        self.timedelta_styles = timedelta_styles
        self.epoch = epoch
        self.limits = limits
        self.max_row = limits.max_rows + 1  # the header row is not counted
        self.name = name
        self.row = 0
        self.col = 0
        self.kind = "n"
        self.style = 0
        self.capture = False
        self.inline = False
        self.parts: list[str] = []
        self.rows = array("q")
        self.cols = array("q")
        self.values: list[str] = []
        self.chunks: list[pa.Array] = []
        self.filled = 0
        self.widest = 0

    # expat callbacks ------------------------------------------------------------------

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        if tag == _C:
            ref = attrib.get("r")
            self.col = _column(ref) if ref else self.col + 1
            if self.col > self.limits.max_columns:
                self.limits.check_columns(self.col, self.name)
            self.kind = attrib.get("t", "n")
            style = attrib.get("s")
            self.style = int(style) if style else 0
            self.parts = []
        elif tag == _V:
            self.capture = True
        elif tag == _T:
            self.capture = self.inline
        elif tag == _IS:
            self.inline = True
        elif tag == _ROW:
            ref = attrib.get("r")
            self.row = int(ref) if ref else self.row + 1
            self.col = 0
            if self.row > self.max_row:
                self.limits.check_rows(self.row - 1, self.name)

    def end(self, tag: str) -> None:
        if tag == _C:
            if self.parts:
                text = self._text("".join(self.parts))
                if text:
                    self._keep(text)
            self.inline = False
        elif tag in (_V, _T):
            self.capture = False

    def data(self, text: str) -> None:
        if self.capture:
            self.parts.append(text)

    def close(self) -> None:
        return None

    # values ---------------------------------------------------------------------------

    def _text(self, raw: str) -> str:
        kind = self.kind
        if kind == "s":
            return self.shared[int(raw)]
        if kind == "n":
            return _number_text(raw, self.style, self)
        if kind == "b":
            return "TRUE" if raw.strip() == "1" else "FALSE"
        if kind == "d":
            from openpyxl.utils.datetime import from_ISO8601

            return cell_text(from_ISO8601(raw))
        return raw  # inlineStr, str (a formula's text result), e (an error such as #N/A)

    def _keep(self, text: str) -> None:
        self.rows.append(self.row)
        self.cols.append(self.col)
        self.values.append(text)
        if self.col > self.widest:
            self.widest = self.col
        self.filled += 1
        if self.filled > self.limits.max_cells:
            self.limits.check_cells(self.row, self.widest, self.name)
            self.limits.check_cells(self.filled, 1, self.name)
        if len(self.values) >= FLUSH_CELLS:
            self._flush()

    def _flush(self) -> None:
        if self.values:
            self.chunks.append(pa.array(self.values, pa.large_string()))
            self.values = []

    # the list -------------------------------------------------------------------------

    def table(self, name: str, limits: ListLimits) -> tuple[list[str], pa.Table]:
        self._flush()
        rows: np.ndarray = np.frombuffer(self.rows, dtype=np.int64)
        cols: np.ndarray = np.frombuffer(self.cols, dtype=np.int64)
        values = pa.concat_arrays(self.chunks) if self.chunks else pa.array([], pa.large_string())
        if not len(rows) or not np.any(rows == 1):
            raise InputError("lists.error.empty", name=name)
        width = int(cols.max())
        last = int(rows.max())
        body_rows = last - 1
        if body_rows == 0:
            raise InputError("lists.error.no_rows", name=name)
        limits.check_rows(body_rows, name)
        limits.check_cells(body_rows, width, name)
        header = [""] * width
        for i in np.flatnonzero(rows == 1).tolist():
            header[int(cols[i]) - 1] = values[i].as_py()
        body = rows >= 2
        order = np.flatnonzero(body)
        order = order[np.argsort(cols[order], kind="stable")]
        sorted_cols = cols[order]
        bounds = np.searchsorted(sorted_cols, np.arange(1, width + 2))
        arrays: list[pa.Array] = []
        for j in range(width):
            picked = order[bounds[j] : bounds[j + 1]]
            arrays.append(_spread(values, picked, rows[picked] - 2, body_rows))
        return header, pa.table(arrays, names=[str(i) for i in range(width)])


def _spread(values: pa.Array, picked: np.ndarray, at: np.ndarray, n: int) -> pa.Array:
    """A column of ``n`` strings: ``values[picked]`` at rows ``at``, ``""`` elsewhere."""
    if not len(picked):
        return pa.array(np.full(n, "", dtype=object), pa.string())
    where = np.full(n, -1, dtype=np.int64)
    where[at] = picked
    index = pa.array(where, mask=where < 0)
    column = pc.take(values, index)
    return pc.fill_null(column, "").cast(pa.string())


def _number_text(raw: str, style: int, cells: _SheetCells) -> str:
    try:
        number: int | float = float(raw) if ("." in raw or "E" in raw or "e" in raw) else int(raw)
    except ValueError:
        return raw
    if style in cells.date_styles:
        from openpyxl.utils.datetime import from_excel

        try:
            return cell_text(
                from_excel(number, cells.epoch, timedelta=style in cells.timedelta_styles)
            )
        except (OverflowError, ValueError):
            return raw
    return cell_text(number)


def _column(ref: str) -> int:
    """``"XFD1048576"`` → 16384 (letters only; the row number is not needed)."""
    n = 0
    for ch in ref:
        k = _LETTERS.get(ch)
        if k is None:
            break
        n = n * 26 + k
    return n


def cell_text(value: Any) -> str:
    """A spreadsheet cell as the text it holds: whole numbers without ``.0``, dates ISO."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e17:
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ") if value.time() != time(0) else value.date().isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)
