"""Rows holding bytes that are not text (issue 14.6; SPEC §5: never let one bad row stop
the list): a NUL byte or bytes invalid in UTF-8 refuse their own row as ``unreadable_row``
and the other rows are judged; bytes are never guessed into a Western code page; a file
that is mostly damaged, or in two encodings, is refused in one line."""

from __future__ import annotations

import csv
import io

import pytest

from hde_core.errors import InputError
from hde_core.lists.reading import read_list
from hde_core.services.lists import load_list, validate_list, write_report
from tests.lists.helpers import codes, mixed_setup

ROWS = 401
BAD = 200  # 0-based index of the damaged row


def a_list(bad_cell: bytes, *, encoding: str = "utf-8") -> bytes:
    lines = [b"email;name\n"]
    for i in range(ROWS):
        name = f"Клиент {i}".encode(encoding)
        lines.append(f"c{i}@example.ru;".encode() + (bad_cell if i == BAD else name) + b"\n")
    return b"".join(lines)


@pytest.mark.parametrize(
    "bad_cell",
    [b"An\x00na", b"\xff\xfe\xfa\x98", b"\xc3\x28", "Анна".encode()[:-1]],
    ids=["nul", "junk", "invalid-utf8", "cut-character"],
)
def test_a_damaged_row_is_refused_on_its_own_and_the_others_are_judged(app, clock, bad_cell):
    mixed_setup(app, clock)
    loaded = load_list(app, a_list(bad_cell), filename="clients.csv")
    assert loaded.encoding == "utf-8" and loaded.row_count == ROWS
    result = validate_list(app, loaded, "email")
    got = codes(result)
    assert got[BAD] == "unreadable_row"
    assert got[:BAD] + got[BAD + 1 :] == ["eligible:send"] * (ROWS - 1)
    summary = result.summary()
    assert (summary["eligible"], summary["reasons"]["unreadable_row"]) == (ROWS - 1, 1)
    row = list(result.iter_rows())[BAD]
    assert "\ufffd" in row.values["name"] and "\x00" not in row.values["name"]
    assert "NUL byte" in row.message("en") and "�" in row.message("en")


def test_the_report_shows_the_damaged_row_and_why(app, clock, tmp_path):
    mixed_setup(app, clock)
    result = validate_list(app, load_list(app, a_list(b"An\x00na"), filename="l.csv"), "email")
    path = tmp_path / "report.csv"
    write_report(result, path, lang="en")
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig")), delimiter=";"))
    damaged = rows[1 + BAD]
    assert damaged[0] == str(BAD + 1) and damaged[2] == "An\ufffdna"
    assert damaged[5] == "unreadable_row"


def test_stray_bytes_are_not_guessed_into_a_western_code_page():
    raw = read_list(a_list(b"\x80\x9f\xa0\xd7\x98\xe1", encoding="utf-8"), filename="x.csv")
    assert raw.encoding == "utf-8"  # before: cp1250, every row read as garbage-free Latin-2
    assert raw.unreadable is not None and list(raw.unreadable.nonzero()[0]) == [BAD]


@pytest.mark.parametrize(
    ("text", "codec", "reported"),
    [
        ("Анна", "cp1251", "cp1251"),  # before: read as cp1250 'Ŕíía'
        ("Анна Петрова", "koi8_r", "koi8-r"),
        ("Анна", "cp866", "cp866"),
        ("Müller", "cp1252", "cp1252"),
        ("Dvořák", "cp1250", "cp1250"),
    ],
)
def test_one_word_in_a_code_page_among_ascii_rows_is_read_in_that_page(text, codec, reported):
    data = b"email;name\n" + b"".join(b"a%d@b.ru;x\n" % i for i in range(400))
    raw = read_list(data + f"c@d.ru;{text}\n".encode(codec), filename="x.csv")
    assert (raw.encoding, raw.table.column("name")[-1].as_py()) == (reported, text)
    assert raw.unreadable is None


def test_a_mostly_damaged_file_is_refused_in_one_line():
    data = b"email;name\n" + b"".join(b"a%d@b.ru;\xff\x98\x81\n" % i for i in range(100))
    with pytest.raises(InputError) as err:
        read_list(data, filename="junk.csv")
    assert err.value.key == "lists.error.encoding"
    assert "\n" not in err.value.message("ru")


def test_many_nul_bytes_are_not_a_list():
    data = b"email;name\n" + b"".join(b"a%d@b.ru;x\x00\x00\n" % i for i in range(100))
    with pytest.raises(InputError) as err:
        read_list(data, filename="bin.csv")
    assert err.value.key == "lists.error.not_a_list"


def test_damage_past_the_sample_in_many_rows_refuses_as_mixed_encodings():
    head = b"email;name\n" + b"".join(b"a%d@b.ru;ok\n" % i for i in range(30_000))
    tail = b"".join(b"z%d@b.ru;\xff\x98\n" % i for i in range(1_000))
    with pytest.raises(InputError) as err:
        read_list(head + tail, filename="two.csv")
    assert err.value.key == "lists.error.mixed_encoding"
