"""The validation report: one row per input row, safe to open in Excel, written whole."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook

from hde_core.errors import UsageError
from hde_core.i18n import t
from hde_core.lists.report import neutralise, write_table
from hde_core.services.lists import load_list, validate_list, write_report
from tests.lists.helpers import EXPECTED, FIXTURES, ORDER, mixed_setup

MIXED = FIXTURES / "mixed_utf8bom_semicolon.csv"


@pytest.mark.parametrize(
    ("value", "safe"),
    [
        ("=1+2", "'=1+2"),
        ("+7 912 000-00-07", "+7 912 000-00-07"),  # a phone number stays as written
        ("+79120000001", "+79120000001"),
        ("+7 (912) 000-00-07", "+7 (912) 000-00-07"),
        ("+7 912 000-00-07+cmd|' /C calc'!A0", "'+7 912 000-00-07+cmd|' /C calc'!A0"),
        ("+1-A1", "'+1-A1"),
        (" =1+2", "' =1+2"),  # Excel skips the blanks before a formula
        ("  @SUM(A1)", "'  @SUM(A1)"),
        ('\n=HYPERLINK("http://x")', '\'\n=HYPERLINK("http://x")'),
        ("\r\n-1+2", "'\r\n-1+2"),
        ("\nАнна", "'\nАнна"),
        (" +7 912 000-00-07", "' +7 912 000-00-07"),
        ("Анна =1", "Анна =1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=x", "'\t=x"),
        ("Анна", "Анна"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_formula_starts_are_neutralised(value, safe):
    assert neutralise(value) == safe


def test_csv_report_has_one_row_per_input_row_and_opens_safely(app, clock, tmp_path):
    mixed_setup(app, clock)
    result = validate_list(app, load_list(app, MIXED), "wab", required_fields=[ORDER])
    path = tmp_path / "out.csv"
    write_report(result, path, lang="en")
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel reads the BOM as UTF-8
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == [
        "Row", "ФИО", "Телефон", "E-mail", "Номер заказа", "Комментарий",
        "Recipient", "Channel", "Code", "Field", "Reason", "Action",
    ]  # fmt: skip
    body = rows[1:]
    assert [r[0] for r in body] == [str(i) for i in range(1, 10)]
    assert [r[8] for r in body] == [c.split(":")[0] for c in EXPECTED["wab"]]
    assert body[0][6] == "+79120000001" and body[0][7] == "wab"
    assert body[1][11] == t("action.template_then_hold", "en")
    assert body[7][9] == ORDER and body[7][10] == f"A required field is empty: {ORDER}."
    assert body[8][1] == '\'=HYPERLINK("http://evil.example","жми")'
    assert body[8][3] == "'@info@x" and body[8][5] == "'-2+3"
    assert body[1][5] == "звонить после 18:00;\nлучше в WhatsApp"


def test_xlsx_report_keeps_values_as_text_never_formulas(app, clock, tmp_path):
    mixed_setup(app, clock)
    result = validate_list(app, load_list(app, MIXED), "email")
    path = tmp_path / "out.xlsx"
    write_report(result, path, lang="ru")
    sheet = load_workbook(path).active
    header = [c.value for c in sheet[1]]
    assert header[:2] == ["Строка", "ФИО"] and header[-6:] == [
        "Получатель",
        "Канал",
        "Код",
        "Поле",
        "Причина",
        "Действие",
    ]
    evil = sheet.cell(10, 2)
    assert evil.value == '=HYPERLINK("http://evil.example","жми")'
    assert evil.data_type == "s" and evil.quotePrefix
    assert sheet.cell(2, 3).value == "8 (912) 000-00-01"
    assert sheet.max_row == 10


def test_report_columns_do_not_collide_with_list_columns(app, clock, tmp_path):
    mixed_setup(app, clock)
    data = "Код;email\n1;a@example.ru\n".encode()
    result = validate_list(app, load_list(app, data, filename="k.csv"), "email")
    path = tmp_path / "r.csv"
    write_report(result, path, lang="ru")
    header = path.read_text(encoding="utf-8-sig").splitlines()[0].split(";")
    assert header.count("Код") == 1 and "Код (2)" in header


def test_a_report_is_written_whole_or_not_at_all(tmp_path):
    def rows():
        yield ["1", "a"]
        raise RuntimeError("disk full")

    path = tmp_path / "r.csv"
    with pytest.raises(RuntimeError):
        write_table(path, ["n", "v"], rows())
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["r.txt", "missing_dir/r.csv"])
def test_bad_report_paths_are_refused(tmp_path, name):
    with pytest.raises(UsageError):
        write_table(tmp_path / name, ["n"], [])
