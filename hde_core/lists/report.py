"""The validation report: one row per input row, safe to open in Excel (SPEC §5).

A cell whose first character other than blanks (spaces, tabs, line breaks) is ``=`` ``+``
``-`` ``@``, or that starts with a tab or a line break, is a formula to a spreadsheet
(OWASP's CSV-injection rule) — a list can carry ``=HYPERLINK(...)`` in a name column, and
Excel skips the blanks before it. In CSV such a cell is prefixed with an apostrophe; in XLSX
every cell is written as text with Excel's own "quote prefix" style, so the value stays
intact and is never evaluated.

One exception, so phone numbers stay as written: a cell that is only a phone number — a
``+``, then digits with spaces, brackets, dashes or dots (``+79123456789``,
``+7 (912) 345-67-89``) — cannot hold a function, a reference or a link, and is written as
is: the normalised recipient column stays exact E.164 for whoever reads the CSV.

The file appears only when it is complete (written next to the target, then renamed).
"""

from __future__ import annotations

import csv
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from hde_core.errors import UsageError

_FORMULA_START = ("=", "+", "-", "@")
_BREAKS = ("\t", "\r", "\n")
_PHONE = re.compile(r"\+\d[\d ().\-]{5,30}")
XLSX_MAX_ROWS = 1_048_576


def is_formula(value: str) -> bool:
    """Would a spreadsheet take this cell for a formula (see the module docstring)?"""
    if not value:
        return False
    if value.startswith(_BREAKS):
        return True
    if not value.lstrip().startswith(_FORMULA_START):
        return False
    return _PHONE.fullmatch(value) is None


def neutralise(value: str) -> str:
    """A CSV cell Excel will show as text, never run as a formula."""
    return "'" + value if is_formula(value) else value


def check_report_path(path: Path) -> Path:
    """Refuse a report path that cannot be written (before any work is done)."""
    if path.suffix.lower() not in (".csv", ".xlsx"):
        raise UsageError("lists.error.report_format", path=str(path))
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise UsageError("lists.error.report_dir", path=str(path))
    return directory


def write_table(path: Path, header: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """``.csv`` (UTF-8 with BOM, ``;``: what Excel opens as-is in Russian locales) or ``.xlsx``."""
    directory = check_report_path(path)
    suffix = path.suffix.lower()
    fd, tmp_name = tempfile.mkstemp(prefix=".hde-report-", suffix=suffix, dir=directory)
    tmp = Path(tmp_name)
    try:
        if suffix == ".csv":
            with os.fdopen(fd, "w", encoding="utf-8-sig", newline="") as fh:
                writer = csv.writer(fh, delimiter=";")
                writer.writerow([neutralise(h) for h in header])
                writer.writerows([neutralise(v) for v in row] for row in rows)
        else:
            os.close(fd)
            _write_xlsx(tmp, header, rows)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_xlsx(path: Path, header: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("report")
    bold = Font(bold=True)

    def cells(values: Sequence[str], font: Font | None = None) -> list[WriteOnlyCell]:
        out = []
        for value in values:
            cell = WriteOnlyCell(sheet, value=_clean(value))
            cell.data_type = "s"  # text, even when it looks like a formula or a number
            if is_formula(value):
                cell.quotePrefix = True
            if font is not None:
                cell.font = font
            out.append(cell)
        return out

    sheet.append(cells(header, bold))
    for count, row in enumerate(rows, start=2):
        if count > XLSX_MAX_ROWS:
            raise UsageError("lists.error.report_too_many_rows", rows=XLSX_MAX_ROWS - 1)
        sheet.append(cells(row))
    workbook.save(path)


def _clean(value: str) -> str:
    """Characters XML 1.0 cannot hold (a control byte in a CRM export) are dropped."""
    if value.isprintable() or all(c >= " " or c in "\t\n\r" for c in value):
        return value
    return "".join(c for c in value if c >= " " or c in "\t\n\r")
