"""Reading lists as exported: every encoding and delimiter, XLSX, and files that are not lists."""

from __future__ import annotations

import codecs

import pytest

from hde_core.errors import InputError, UsageError
from hde_core.lists.reading import detect_delimiter, read_list
from hde_core.services.lists import load_list, validate_list
from tests.fixtures.lists.make_fixtures import HEADER, ROWS, csv_text
from tests.lists.helpers import EXPECTED, FIXTURES, MIXED_FILES, ORDER, codes, mixed_setup


@pytest.mark.parametrize(("name", "encoding", "delimiter"), MIXED_FILES)
def test_each_export_reads_to_the_same_rows(name, encoding, delimiter):
    raw = read_list(FIXTURES / name)
    assert (raw.encoding, raw.delimiter) == (encoding, delimiter)
    assert raw.headers == HEADER
    rows = [list(r.values()) for r in raw.table.to_pylist()]
    expected = [list(r) for r in ROWS]
    if name.endswith(".xlsx"):
        assert raw.sheet == "Клиенты"
    assert rows == expected  # quoted line breaks and delimiters kept; numbers as typed


@pytest.mark.parametrize(("name", "encoding", "delimiter"), MIXED_FILES)
def test_each_export_gets_the_expected_codes(app, clock, name, encoding, delimiter):
    mixed_setup(app, clock)
    loaded = load_list(app, FIXTURES / name)
    assert loaded.mapping == {"email": "E-mail", "phone": "Телефон", "name": "ФИО"}
    for channel in ("email", "wab"):
        result = validate_list(app, loaded, channel, required_fields=[ORDER])
        assert codes(result) == EXPECTED[channel], (name, channel)


def test_xlsx_chosen_sheet(app, clock):
    mixed_setup(app, clock)
    loaded = load_list(app, FIXTURES / "mixed.xlsx", sheet="Другой лист")
    assert loaded.mapping == {"email": "Почта", "name": "Имя"}
    assert codes(validate_list(app, loaded, "email")) == ["eligible:send", "invalid_email"]


def test_xlsx_whole_numbers_read_without_fraction():
    raw = read_list(FIXTURES / "mixed.xlsx")
    assert raw.table.column("Телефон")[2].as_py() == "79120000003"


@pytest.mark.parametrize(
    ("fixture", "key"),
    [
        ("empty.csv", "lists.error.empty"),
        ("header_only.csv", "lists.error.no_rows"),
        ("binary.png", "lists.error.not_a_list"),
        ("old_excel.xls", "lists.error.xls"),
        ("undetectable.csv", "lists.error.encoding"),
    ],
)
def test_files_that_are_not_lists_are_refused_in_plain_words(fixture, key):
    with pytest.raises(InputError) as err:
        read_list(FIXTURES / fixture)
    assert err.value.key == key
    for lang in ("en", "ru"):
        message = err.value.message(lang)
        assert fixture in message and "\n" not in message and "{" not in message


def test_a_ten_megabyte_line_is_refused_with_its_line_number():
    data = "Телефон;Имя\n89123456789;Анна\n".encode() + b"8912;" + b"x" * (10 * 1024 * 1024) + b"\n"
    with pytest.raises(InputError) as err:
        read_list(data, filename="big.csv")
    assert err.value.key == "lists.error.line_too_long"
    assert "Line 3 of big.csv" in err.value.message("en")


def test_an_unclosed_quote_does_not_swallow_the_list_silently():
    data = b'email;name\na@example.ru;"Ann\n' + b"b@example.ru;Bob\n" * 100_000
    with pytest.raises(InputError) as err:
        read_list(data, filename="q.csv")
    assert err.value.key == "lists.error.cell_too_long"
    assert "Row 1 of q.csv" in err.value.message("en")


def test_over_the_upload_limit_is_refused_before_reading(tmp_path):
    path = tmp_path / "big.csv"
    path.write_bytes(b"email\n" + b"a@example.ru\n" * 200_000)  # ~2.6 MB
    with pytest.raises(InputError) as err:
        read_list(path, limit_mb=1)
    assert err.value.key == "lists.error.too_large"
    assert "HDE_UPLOAD_LIMIT_MB" in err.value.message("en")


def test_mixed_encodings_are_refused():
    data = "email;name\na@example.ru;Анна\n".encode() + "b@example.ru;Борис\n".encode("cp1251")
    with pytest.raises(InputError) as err:
        read_list(data, filename="mixed.csv")
    assert err.value.key == "lists.error.mixed_encoding"


def test_unknown_sheet_names_the_sheets():
    with pytest.raises(InputError) as err:
        read_list(FIXTURES / "mixed.xlsx", sheet="Нет такого")
    assert "Клиенты, Другой лист" in err.value.message("en")


def test_rows_with_missing_or_extra_fields_are_kept():
    data = "Телефон;E-mail;Имя\n89123456789;a@example.ru\n89123456780;b@example.ru;Б;лишнее\n\n".encode()
    raw = read_list(data, filename="ragged.csv")
    assert raw.table.to_pylist() == [
        {"Телефон": "89123456789", "E-mail": "a@example.ru", "Имя": ""},
        {"Телефон": "89123456780", "E-mail": "b@example.ru", "Имя": "Б"},
    ]


def test_headers_blank_or_repeated_get_unique_names():
    raw = read_list(b"email;;Email;email\na@b.ru;1;2;3\n", filename="h.csv")
    assert raw.headers == ["email", "column_2", "Email (2)", "email (3)"]


@pytest.mark.parametrize(
    ("sample", "delimiter"),
    [
        ("a,b,c\n1,2,3\n", ","),
        ("a;b;c\n1;2,5;3\n", ";"),
        ("a\tb\n1\t2\n", "\t"),
        ("a|b\n1|2\n", "|"),
        ('name;comment\nAnn;"x, y, z"\n', ";"),
        ("email\nann@example.ru\n", ","),
    ],
)
def test_delimiter_detection(sample, delimiter):
    assert detect_delimiter(sample) == delimiter


def test_single_column_list_without_delimiter(app, clock):
    mixed_setup(app, clock)
    loaded = load_list(app, b"email\nann@example.ru\n\nbad\n", filename="one.csv")
    assert codes(validate_list(app, loaded, "email")) == ["eligible:send", "invalid_email"]


def test_mapping_override_and_unknown_column(app, clock):
    mixed_setup(app, clock)
    data = "Контакт;Куда писать\nАнна;ann@example.ru\n".encode()
    loaded = load_list(app, data, filename="x.csv", mapping={"email": "Куда писать"})
    assert loaded.mapping == {"email": "Куда писать", "name": "Контакт"}
    with pytest.raises(UsageError) as err:
        load_list(app, data, filename="x.csv", mapping={"email": "Почта"})
    assert "Контакт, Куда писать" in err.value.message("en")
    with pytest.raises(UsageError):
        load_list(app, data, filename="x.csv", mapping={"fax": "Контакт"})


@pytest.mark.parametrize(
    ("codec", "reported"),
    [
        ("cp1251", "cp1251"),
        ("koi8_r", "koi8-r"),
        ("cp866", "cp866"),
        ("utf-16-be", "utf-16"),
        ("utf-16-le", "utf-16"),
    ],
)
def test_cyrillic_code_pages_and_utf16_are_detected(codec, reported):
    text = csv_text(";").replace("пример.рф", "example.org")
    data = text.encode(codec)
    if codec.startswith("utf-16"):
        data = (codecs.BOM_UTF16_BE if codec.endswith("be") else codecs.BOM_UTF16_LE) + data
    raw = read_list(data, filename="list.csv")
    assert raw.encoding == reported
    assert raw.headers == HEADER
    assert raw.table.column("ФИО").to_pylist()[1] == "Борис Ёлкин"
