"""Reading what team leads export from Excel, 1C, amoCRM, Bitrix24 and Google Sheets.

CSV in UTF-8 (with or without BOM), cp1251 and other Cyrillic code pages, UTF-16; the
delimiter (``,`` ``;`` tab ``|``) detected; quoted fields with line breaks; XLSX (the first
sheet or a chosen one). Every cell is read as text, exactly as written — a phone typed as
``8 (912) 345-67-89`` must not become a number, and a number Excel already mangled
(``7.91234E+10``) must reach the normaliser unchanged so it can be refused.

A file that is not a contact list is refused with one plain-words :class:`InputError`
saying what is wrong and what to do; nothing is read half-way. Encoding and delimiter are
detected on a sample (charset-normalizer), then pyarrow parses the whole file.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import charset_normalizer
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from hde_core.errors import InputError
from hde_core.lists.limits import ListLimits, unique_names
from hde_core.lists.shape import is_a_list
from hde_core.lists.xlsx import cell_text, read_sheet

#: A line longer than this is not a contact (a binary blob, or a quote that never closes).
MAX_LINE_BYTES = 1024 * 1024
SAMPLE_BYTES = 256 * 1024
DELIMITERS = (";", ",", "\t", "|")
#: Single-byte code pages a Russian-speaking team's files come in, most likely first.
LEGACY_ENCODINGS = ("cp1251", "koi8_r", "cp866", "mac_cyrillic", "iso8859_5", "cp1252", "cp1250")
_CONTROL = frozenset(range(32)) - {9, 10, 12, 13, 26}
_NOTHING = re.compile(rb"[ \t\r\n\x00\xef\xbb\xbf\xff\xfe]*")
_CYRILLIC = frozenset({"cp1251", "koi8_r", "cp866", "mac_cyrillic", "iso8859_5"})
#: A word with a byte that is not ASCII (letters around it included).
_HIGH_WORD = re.compile(rb"[A-Za-z\x80-\xff]*[\x80-\xff][A-Za-z\x80-\xff]*")
_INVALID_RUN = re.compile("[A-Za-z\udc80-\udcff]*[\udc80-\udcff][A-Za-z\udc80-\udcff]*")
#: What a NUL byte or a byte invalid in UTF-8 becomes: U+FFFD, visible in the report.
REPLACEMENT = "\ufffd".encode()
#: Three Cyrillic letters in a row decoded from UTF-8: never an accident of a code page.
_UTF8_RUSSIAN_WORD = re.compile("[\u0410-\u044f\u0401\u0451]{3,}")


@dataclass(frozen=True)
class RawList:
    """A list as read: every column text, blanks as ``""``, header names unique."""

    table: pa.Table
    headers: list[str]
    format: str  # "csv" | "xlsx"
    encoding: str | None  # None for XLSX
    delimiter: str | None  # None for XLSX
    sheet: str | None = None
    #: Per row: it held bytes that are not text (a NUL, or invalid in the encoding), now
    #: shown as U+FFFD; such a row is refused on its own. None: no row did.
    unreadable: np.ndarray | None = None


def read_list(
    source: Path | bytes,
    *,
    filename: str | None = None,
    sheet: str | None = None,
    limit_mb: int | None = None,
    limits: ListLimits | None = None,
) -> RawList:
    """Read a CSV or XLSX list; raises :class:`InputError` for anything that is not one, or
    for a list beyond ``limits`` (rows, columns, cells, unpacked size)."""
    limits = limits or ListLimits()
    if limit_mb is not None:
        limits = replace(limits, upload_mb=limit_mb)
    name = filename or (source.name if isinstance(source, Path) else "list")
    data = _load_bytes(source, name, limits.upload_mb)
    if _NOTHING.fullmatch(data):
        raise InputError("lists.error.empty", name=name)
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise InputError("lists.error.xls", name=name)
    if data.startswith(b"PK\x03\x04") or name.lower().endswith((".xlsx", ".xlsm")):
        return _read_xlsx(data, name, sheet, limits)
    if data.startswith((b"%PDF", b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"\x1f\x8b")):
        raise InputError("lists.error.not_a_list", name=name)
    utf8, encoding = _to_utf8(data, name)
    return _read_csv(utf8, encoding, name, limits)


def _load_bytes(source: Path | bytes, name: str, limit_mb: int) -> bytes:
    limit = limit_mb * 1024 * 1024
    if isinstance(source, bytes):
        size = len(source)
    else:
        if not source.is_file():
            raise InputError("error.file_not_found", path=str(source))
        size = source.stat().st_size
    if size > limit:
        raise InputError(
            "lists.error.too_large", name=name, size=f"{size / 1024 / 1024:.0f}", limit=limit_mb
        )
    if isinstance(source, bytes):
        return source
    try:
        return source.read_bytes()
    except OSError as exc:
        raise InputError("error.file_unreadable", path=str(source), reason=exc.strerror) from exc


# --- encoding -------------------------------------------------------------------------


def _to_utf8(data: bytes, name: str) -> tuple[bytes, str]:
    """The file as UTF-8 bytes without a BOM, and the encoding it was in."""
    encoding = detect_encoding(data, name)
    if encoding in ("utf-8", "utf-8-sig"):
        return (data[3:] if data.startswith(codecs.BOM_UTF8) else data), encoding
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise InputError(
            "lists.error.mixed_encoding", name=name, encoding=encoding, offset=exc.start
        ) from exc
    return text.removeprefix("\ufeff").encode("utf-8"), encoding


def detect_encoding(data: bytes, name: str) -> str:
    """BOM first, then UTF-8, then the Cyrillic and Western code pages (charset-normalizer)."""
    for bom, encoding in (
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            return encoding
    sample = data[:SAMPLE_BYTES]
    complete = len(sample) == len(data)
    controls = sum(sample.count(bytes([c])) for c in _CONTROL)
    if b"\x00" in sample:
        guess = _utf16_without_bom(sample)
        if guess is not None:
            return guess
        if controls > len(sample) // 100:
            raise InputError("lists.error.not_a_list", name=name)
        # A NUL byte here and there: those rows are refused one by one (SPEC §5).
        sample = sample.replace(b"\x00", b"")
    if controls > len(sample) // 100:
        raise InputError("lists.error.not_a_list", name=name)
    if _is_utf8(sample, complete=complete):
        return "utf-8"
    text = sample.decode("utf-8", errors="replace")
    if _UTF8_RUSSIAN_WORD.search(text):
        if legacy_code_page(_invalid_runs(sample)) is None:
            return "utf-8"  # a few broken characters: those rows are refused one by one
        # Russian words in valid UTF-8 next to words in a code page: two encodings.
        first = len(text[: text.index("\ufffd")].encode("utf-8", errors="replace"))
        raise InputError("lists.error.mixed_encoding", name=name, encoding="UTF-8", offset=first)
    legacy = legacy_code_page(sample)
    if legacy is not None:
        return legacy
    lines = text.splitlines() or [""]
    damaged = sum("\ufffd" in line for line in lines)
    if damaged > _damage_allowed(len(lines)) or text.count("\ufffd") > len(sample) // 20:
        raise InputError("lists.error.encoding", name=name)
    # ASCII with a few bytes no code page reads as words: UTF-8 with a few damaged rows,
    # each refused as ``unreadable_row`` (never guessed into a Western code page).
    return "utf-8"


def legacy_code_page(sample: bytes) -> str | None:
    """The code page in which the sample's non-ASCII words read as words: every letter of
    one script (Cyrillic for the Cyrillic pages, Latin for the Western ones) and written in
    lower, upper or title case. Judged on those words only — a list is mostly ASCII
    (addresses, numbers), which says nothing about the code page. None when no page reads
    at least 80 % of them (three stray bytes are not evidence of a language). Pages that
    tie and read the words differently are told apart by charset-normalizer; else the
    order of :data:`LEGACY_ENCODINGS` decides."""
    words = [w for w in _HIGH_WORD.findall(sample) if len(w) >= 3][:5000]
    if not words:
        return None
    shares = {e: sum(_reads_as_word(w, e) for w in words) / len(words) for e in LEGACY_ENCODINGS}
    best = max(shares.values())
    if best < 0.8:
        return None
    tied = [e for e in LEGACY_ENCODINGS if shares[e] == best]
    if len({b" ".join(words).decode(e, errors="replace") for e in tied}) > 1:
        found = charset_normalizer.from_bytes(b" ".join(words), cp_isolation=tied).best()
        if found is not None and codecs.lookup(found.encoding).name in {
            codecs.lookup(e).name for e in tied
        }:
            return str(found.encoding)
    return tied[0]


def _invalid_runs(sample: bytes) -> bytes:
    """The words around the bytes that are not UTF-8, for :func:`legacy_code_page`."""
    text = sample.decode("utf-8", errors="surrogateescape")
    runs = _INVALID_RUN.findall(text)
    return b" ".join(r.encode("utf-8", errors="surrogateescape") for r in runs)


def _reads_as_word(word: bytes, encoding: str) -> bool:
    try:
        text = word.decode(encoding)
    except UnicodeDecodeError:
        return False
    if not text.isalpha() or not (text.islower() or text.isupper() or text.istitle()):
        return False
    cyrillic = sum(1 for c in text if "\u0400" <= c <= "\u04ff")
    if encoding in _CYRILLIC:
        return cyrillic == len(text)
    return cyrillic == 0


def _damage_allowed(rows: int) -> int:
    """Damaged rows a list may have and still be read (the rest judged): a few, or 1 %."""
    return max(10, rows // 100)


def _is_utf8(sample: bytes, complete: bool) -> bool:
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A sample cut in the middle of a character is still UTF-8.
        return (
            not complete and exc.start >= len(sample) - 3 and exc.reason == "unexpected end of data"
        )
    return True


def _utf16_without_bom(sample: bytes) -> str | None:
    """UTF-16 saved without a BOM shows NULs on one side of mostly-ASCII text."""
    even = sample[0::2].count(0)
    odd = sample[1::2].count(0)
    half = max(len(sample) // 2, 1)
    if odd > half * 0.2 and even < half * 0.02:
        return "utf-16-le"
    if even > half * 0.2 and odd < half * 0.02:
        return "utf-16-be"
    return None


# --- CSV --------------------------------------------------------------------------------


def _check_line_lengths(data: bytes, name: str) -> None:
    """Refuse a line longer than :data:`MAX_LINE_BYTES` (and say which)."""
    raw = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(raw == 10)
    bounds = np.concatenate(([-1], ends, [len(raw)]))
    lengths = np.diff(bounds) - 1
    longest = int(np.argmax(lengths))
    if lengths[longest] > MAX_LINE_BYTES:
        raise InputError(
            "lists.error.line_too_long",
            name=name,
            line=f"{longest + 1:,}",
            limit=MAX_LINE_BYTES // 1024 // 1024,
        )


def detect_delimiter(sample: str) -> str:
    """The delimiter that splits the first rows into the same number (>1) of fields."""
    lines = sample.splitlines(keepends=True)
    if len(lines) > 1 and not sample.endswith(("\n", "\r")):
        lines = lines[:-1]  # the sample may end in the middle of a row
    head = "".join(lines[:200])
    best: tuple[float, int, int] = (0.0, 1, 0)
    chosen = ","
    for rank, delimiter in enumerate(DELIMITERS):
        try:
            rows = [r for r in csv.reader(io.StringIO(head), delimiter=delimiter) if r]
        except csv.Error:
            continue
        if not rows or len(rows[0]) < 2:
            continue
        width = len(rows[0])
        consistent = sum(1 for r in rows if len(r) == width) / len(rows)
        score = (consistent, width, -rank)
        if score > best:
            best, chosen = score, delimiter
    return chosen


def _header(data: bytes, delimiter: str, name: str, limits: ListLimits) -> list[str]:
    """The first row's names. Its line is read whole but never longer than
    :data:`MAX_LINE_BYTES` (a 50 MB line of ``x,x,…`` is refused at once), and its fields are
    counted against the column limit before any name is looked at."""
    end = data.find(b"\n", 0, MAX_LINE_BYTES + 1)
    if end < 0 and len(data) > MAX_LINE_BYTES:
        raise InputError(
            "lists.error.line_too_long", name=name, line=1, limit=MAX_LINE_BYTES // 1024 // 1024
        )
    line = data[: end if end >= 0 else len(data)].decode("utf-8", errors="replace")
    first = next(csv.reader(io.StringIO(line), delimiter=delimiter), [])
    limits.check_columns(len(first), name)
    return unique_headers(first)


def unique_headers(names: Iterable[Any]) -> list[str]:
    """Header names trimmed, blanks named by position, repeats numbered (in one pass)."""
    return unique_names(
        [cell_text(name).strip() or f"column_{i}" for i, name in enumerate(names, start=1)]
    )


def _repair(data: bytes, encoding: str) -> tuple[bytes, int | None, bool]:
    """NUL bytes and bytes invalid in UTF-8 become U+FFFD. Returns the bytes, the offset of
    the first invalid UTF-8 byte (None: none) and whether anything was replaced."""
    damaged = False
    if b"\x00" in data:
        data, damaged = data.replace(b"\x00", REPLACEMENT), True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as bad:
        return data.decode("utf-8", errors="replace").encode("utf-8"), bad.start, True
    return data, None, damaged


def _unreadable_rows(table: pa.Table, name: str, invalid_at: int | None) -> np.ndarray:
    """Rows holding U+FFFD where a NUL or an invalid byte was; too many refuse the file."""
    mask = np.zeros(table.num_rows, dtype=bool)
    for column in table.columns:
        mask |= pc.fill_null(pc.match_substring(column, "\ufffd"), False).to_numpy(
            zero_copy_only=False
        )
    if int(mask.sum()) > _damage_allowed(table.num_rows):
        if invalid_at is not None:
            raise InputError(
                "lists.error.mixed_encoding", name=name, encoding="UTF-8", offset=invalid_at
            )
        raise InputError("lists.error.not_a_list", name=name)
    return mask


def _read_csv(data: bytes, encoding: str, name: str, limits: ListLimits) -> RawList:
    data, invalid_at, damaged = _repair(data, encoding)
    sample = data[:SAMPLE_BYTES].decode("utf-8", errors="ignore")
    delimiter = detect_delimiter(sample)
    headers = _header(data, delimiter, name, limits)
    if not headers:
        raise InputError("lists.error.empty", name=name)
    if not is_a_list(headers, sample, delimiter):  # a note saved as .txt, say
        raise InputError(
            "lists.prose.refused", name=name, first=" ".join(" ".join(headers).split())[:80]
        )
    # Lines bound the rows from above (a quoted value may hold a line break): a file of
    # blank cells is refused before it is parsed into more cells than the limit.
    lines = data.count(b"\n") + (not data.endswith(b"\n"))
    if (lines - 1) * len(headers) > limits.max_cells:
        limits.check_cells(lines - 1, len(headers), name)
    bad_rows: list[int | None] = []

    def skip(row: Any) -> str:
        bad_rows.append(row.number)
        return "skip"

    table: pa.Table | None = None
    try:
        table = pacsv.read_csv(
            pa.py_buffer(data),
            read_options=pacsv.ReadOptions(
                column_names=headers, skip_rows=1, block_size=4 * MAX_LINE_BYTES
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter,
                # Without a quote in the file no value can hold a line break, and pyarrow
                # parses twice as fast when it need not look for one.
                newlines_in_values=data.find(b'"') >= 0,
                invalid_row_handler=skip,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={h: pa.string() for h in headers},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as exc:
        if "straddl" in str(exc):  # a row longer than a block: say which line
            _check_line_lengths(data, name)
        if "UTF8" in str(exc) or "UTF-8" in str(exc):
            try:
                data.decode("utf-8")
            except UnicodeDecodeError as bad:
                raise InputError(
                    "lists.error.mixed_encoding", name=name, encoding="UTF-8", offset=bad.start
                ) from exc
    if table is None or bad_rows:
        # Rows with missing or extra fields (or a quirk pyarrow refuses): the standard
        # library reader keeps every row, padding short ones and dropping extra fields —
        # after making sure no line is longer than a contact can be.
        _check_line_lengths(data, name)
        table = _read_csv_slowly(data.decode("utf-8"), headers, delimiter, name)
    if table.num_rows == 0:
        raise InputError("lists.error.no_rows", name=name)
    limits.check_rows(table.num_rows, name)
    _check_cell_lengths(table, name)
    unreadable = _unreadable_rows(table, name, invalid_at) if damaged else None
    return RawList(table, headers, "csv", _encoding_name(encoding), delimiter, None, unreadable)


def _check_cell_lengths(table: pa.Table, name: str) -> None:
    """A cell longer than :data:`MAX_LINE_BYTES` is a quote that never closed, swallowing
    the rows after it."""
    for column in table.columns:
        lengths = pc.binary_length(column)
        if pc.max(lengths).as_py() > MAX_LINE_BYTES:
            row = int(np.argmax(lengths.to_numpy())) + 1
            raise InputError(
                "lists.error.cell_too_long",
                name=name,
                row=row,
                limit=MAX_LINE_BYTES // 1024 // 1024,
            )


def _read_csv_slowly(text: str, headers: list[str], delimiter: str, name: str) -> pa.Table:
    csv.field_size_limit(MAX_LINE_BYTES)
    width = len(headers)
    columns: list[list[str]] = [[] for _ in headers]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        next(reader, None)
        for row in reader:
            if not row or (len(row) == 1 and not row[0]):
                continue
            row = (row + [""] * width)[:width]
            for column, value in zip(columns, row, strict=True):
                column.append(value)
    except csv.Error as exc:
        raise InputError(
            "lists.error.unreadable", name=name, line=reader.line_num, reason=str(exc)
        ) from exc
    return pa.table({h: pa.array(c, pa.string()) for h, c in zip(headers, columns, strict=True)})


def _encoding_name(encoding: str) -> str:
    return {"utf-8-sig": "utf-8-sig", "utf-16-le": "utf-16", "utf-16-be": "utf-16"}.get(
        encoding, codecs.lookup(encoding).name
    )


# --- XLSX -------------------------------------------------------------------------------


def _read_xlsx(data: bytes, name: str, sheet: str | None, limits: ListLimits) -> RawList:
    header, body, title = read_sheet(data, name, sheet, limits)
    headers = unique_headers(header)
    table = body.rename_columns(headers)
    return RawList(table, headers, "xlsx", None, None, sheet=title)
