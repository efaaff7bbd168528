"""Files built to exhaust memory or time (issue 14.3, 14.4; SPEC §10) are refused in one
clear line by the row, column, cell and unpacked-size limits — or read, when within them.
How fast and in how much memory is measured by ``make bench BENCH_ARGS=hostile``."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from hde_core.errors import InputError, UsageError
from hde_core.lists.limits import ListLimits
from hde_core.lists.reading import read_list
from hde_core.services import bulk
from hde_core.services.lists import load_list
from tests.fixtures.lists.hostile import (
    dimension_bomb_xlsx,
    many_rows_xlsx,
    repeated_headers_csv,
    shared_strings_xlsx,
    single_line_csv,
)


def refusal(data: bytes, name: str, **kw: object) -> InputError:
    with pytest.raises(InputError) as err:
        read_list(data, filename=name, **kw)  # type: ignore[arg-type]
    for lang in ("en", "ru"):
        message = err.value.message(lang)
        assert name in message and "\n" not in message and "{" not in message
        assert len(message) < 400
    return err.value


def test_a_dimension_bomb_is_refused_by_the_column_limit():
    data = dimension_bomb_xlsx()
    assert len(data) < 2048
    err = refusal(data, "bomb.xlsx")
    assert err.key == "lists.error.too_many_columns"
    assert "at least 16,384 columns, more than the 1,000" in err.message("en")
    assert "HDE_LIST_MAX_COLUMNS" in err.message("en")


def test_a_declared_dimension_is_not_trusted():
    """The same declaration with the one cell at A3: a list of two rows, not 16,384 columns."""
    data = dimension_bomb_xlsx()
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as src,
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as out,
    ):
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename.endswith("sheet1.xml"):
                body = body.replace(
                    b'<row r="1048576"><c r="XFD1048576"',
                    b'<row r="1"><c r="A1" t="inlineStr"><is><t>email</t></is></c></row>'
                    b'<row r="3"><c r="A3"',
                )
            out.writestr(info, body)
    raw = read_list(buffer.getvalue(), filename="declared.xlsx")
    assert raw.headers == ["email"]
    assert raw.table.column("email").to_pylist() == ["", "x"]


def test_rows_beyond_the_limit_are_refused_while_reading():
    err = refusal(many_rows_xlsx(5_000), "rows.xlsx", limits=ListLimits(max_rows=1_000))
    assert err.key == "lists.error.too_many_rows"
    assert "more than 1,000 rows" in err.message("en")
    assert "HDE_LIST_MAX_ROWS" in err.message("en")
    raw = read_list(many_rows_xlsx(1_000), filename="ok.xlsx", limits=ListLimits(max_rows=1_000))
    assert raw.table.num_rows == 1_000 and raw.headers == ["email"]


def test_csv_rows_beyond_the_limit_are_refused():
    data = b"email\n" + b"a@b.ru\n" * 101
    err = refusal(data, "rows.csv", limits=ListLimits(max_rows=100))
    assert err.key == "lists.error.too_many_rows"
    assert (
        read_list(data[:-7], filename="ok.csv", limits=ListLimits(max_rows=100)).table.num_rows
        == 100
    )


def test_a_long_line_further_down_is_refused_with_its_number():
    data = b"email;name\na@b.ru;x\n" + single_line_csv(50) + b"\nc@d.ru;y\n"
    err = refusal(data, "down.csv")
    assert err.key == "lists.error.line_too_long" and "Line 3 of down.csv" in err.message("en")


def test_more_row_elements_than_a_sheet_can_hold_are_refused_before_parsing():
    """Over Excel's 1,048,576 rows: refused by counting the inflated sheet's row tags."""
    err = refusal(many_rows_xlsx(1_100_000), "8m.xlsx")
    assert err.key == "lists.error.too_many_rows"
    assert "more than 1,048,576 rows" in err.message("en")


def test_unpacked_size_beyond_the_limit_is_refused():
    data = many_rows_xlsx(40_000)  # ~2 MB of sheet XML, a few KB zipped
    assert len(data) < 100_000
    err = refusal(data, "big.xlsx", limits=ListLimits(max_unpacked_mb=1))
    assert err.key == "lists.error.unpacked_too_large"
    assert "more than 1 MB" in err.message("en")


def test_cells_beyond_the_limit_are_refused_before_a_blank_grid_is_built():
    header = ",".join(f"c{i}" for i in range(200)) + "\n"
    data = (header + "," * 199 + "\n" + ("," * 199 + "\n") * 10_000).encode()
    err = refusal(data, "blank.csv", limits=ListLimits(max_cells=1_000_000))
    assert err.key == "lists.error.too_many_cells"


def test_thirty_thousand_repeated_headers_are_refused_by_the_column_limit():
    err = refusal(repeated_headers_csv(), "x.csv")
    assert err.key == "lists.error.too_many_columns"
    assert "at least 30,000 columns" in err.message("en")


def test_thirty_thousand_repeated_headers_are_numbered_in_one_pass_when_allowed():
    raw = read_list(repeated_headers_csv(), filename="x.csv", limits=ListLimits(max_columns=50_000))
    assert raw.headers[:3] == ["x", "x (2)", "x (3)"]
    assert raw.headers[-1] == "x (30000)" and len(set(raw.headers)) == 30_000


def test_errors_name_a_few_columns_and_count_the_rest(app):
    data = repeated_headers_csv(columns=900, rows=1)
    with pytest.raises(UsageError) as err:
        load_list(app, data, filename="x.csv", mapping={"email": "nope"})
    for lang, more in (("en", "and 895 more"), ("ru", "и ещё 895")):
        message = err.value.message(lang)
        assert "x, x (2), x (3), x (4), x (5) " + more in message
        assert len(message) < 300


def test_a_fifty_megabyte_single_line_is_refused_at_once():
    err = refusal(single_line_csv(50), "line.csv")
    assert err.key == "lists.error.line_too_long"
    assert "Line 1 of line.csv is longer than 1 MB" in err.message("en")


def test_limits_come_from_the_settings_for_the_console_upload(app, monkeypatch):
    """The console's upload (store + inspect) reads with the settings' limits."""
    monkeypatch.setattr(app.settings, "list_max_rows", 100)
    upload = bulk.store_upload(app, "rows.xlsx", many_rows_xlsx(500))
    with pytest.raises(InputError) as err:
        bulk.inspect_upload(app, upload)
    assert err.value.key == "lists.error.too_many_rows"
    monkeypatch.setattr(app.settings, "list_max_rows", 500)
    assert bulk.inspect_upload(app, upload).rows == 500
    assert Path(upload.path).exists()


@pytest.mark.parametrize("value", ["0", "-5", "many"])
def test_a_limit_that_is_not_a_positive_number_is_a_setting_error(value, monkeypatch):
    from pydantic import ValidationError

    from hde_core.config import Settings

    monkeypatch.setenv("HDE_LIST_MAX_ROWS", value)
    with pytest.raises(ValidationError):
        Settings()


def test_shared_strings_beyond_the_cell_limit_are_refused():
    names = [f"Клиент {i} & Co" for i in range(30)]
    data = shared_strings_xlsx(names)
    err = refusal(data, "strings.xlsx", limits=ListLimits(max_cells=20))
    assert err.key == "lists.error.too_many_strings"
    raw = read_list(data, filename="strings.xlsx")
    assert raw.headers == ["name"] and raw.table.column("name").to_pylist() == names


def test_the_streamed_sheet_reads_every_kind_of_cell_as_its_text(tmp_path):
    from datetime import date, datetime

    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["phone", "when", "at", "amount", "vip", "note"])
    sheet.append(
        [79123456789, date(2026, 12, 7), datetime(2026, 12, 7, 9, 30), 2.5, True, "a & <b>"]
    )
    sheet.append([])  # a blank row inside the list is kept
    sheet.append([None, None, None, None, None, "last"])
    path = tmp_path / "kinds.xlsx"
    workbook.save(path)
    raw = read_list(path)
    assert raw.headers == ["phone", "when", "at", "amount", "vip", "note"]
    assert raw.table.to_pylist() == [
        {"phone": "79123456789", "when": "2026-12-07", "at": "2026-12-07 09:30:00",
         "amount": "2.5", "vip": "TRUE", "note": "a & <b>"},
        {"phone": "", "when": "", "at": "", "amount": "", "vip": "", "note": ""},
        {"phone": "", "when": "", "at": "", "amount": "", "vip": "", "note": "last"},
    ]  # fmt: skip


def test_the_string_table_finds_every_string_across_blocks():
    from hde_core.lists.strings import BLOCK, StringTable

    table = StringTable()
    texts = [f"s{i}" * (i % 3) for i in range(BLOCK * 2 + 7)]
    for text in texts:
        table.append(text)
    assert len(table) == len(texts)
    for i in (0, 1, BLOCK - 1, BLOCK, 2 * BLOCK, 2 * BLOCK + 6):
        assert table[i] == texts[i]
    with pytest.raises(IndexError):
        table[len(texts)]
