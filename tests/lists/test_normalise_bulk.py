"""Property tests: the bulk normalisers give the reference answer for every value, every way
of writing one number gives one E.164, and normalisation is idempotent."""

from __future__ import annotations

import phonenumbers
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from hde_core.domain.addresses import normalise_email, normalise_phone
from hde_core.lists.emails import bulk_normalise_emails
from hde_core.lists.phones import OK, STATUS_CODES, bulk_normalise_phones

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

separators = st.sampled_from(["", "", " ", "-", ".", "(", ")", " (", ") ", "\u00a0", "  ", "--"])
prefixes = st.sampled_from(
    ["", "+", "+7", "8", "7", "+7 8", "810", "8 10", "+375", "+380", "+1", "00", "0", "+ 7", "(+7)"]
)
stray = st.sampled_from(["", "", "", "тел. ", "tel: ", " ", "моб.", "\t"])
endings = st.sampled_from(["", "", "", " ", ")", " доб. 12", " ext 5", "#", "e10", ",", " x"])


@st.composite
def phone_like(draw: st.DrawFn) -> str:
    digits = draw(st.text(alphabet="0123456789", min_size=0, max_size=16))
    out = draw(stray) + draw(prefixes)
    for ch in digits:
        out += draw(separators) + ch
    return out + draw(endings)


@st.composite
def mobile_written_many_ways(draw: st.DrawFn) -> tuple[str, list[str]]:
    """A valid Russian number and several ways a person writes it."""
    national = "9" + draw(st.text(alphabet="0123456789", min_size=9, max_size=9))
    e164 = "+7" + national
    assume(phonenumbers.is_valid_number(phonenumbers.parse(e164)))
    ways = []
    for prefix in ("+7", "8", "7", "+7 ", "8 ", "", "тел. 8", "+7("):
        cut = sorted(draw(st.lists(st.integers(1, 9), max_size=4, unique=True)))
        parts, last = [], 0
        for c in cut:
            parts.append(national[last:c])
            last = c
        parts.append(national[last:])
        sep = draw(st.sampled_from([" ", "-", "", ".", "\u00a0"]))
        body = sep.join(parts)
        if draw(st.booleans()) and not prefix.endswith("("):
            body = f"({national[:3]}) " + sep.join([national[3:6], national[6:8], national[8:]])
        ways.append(f"{prefix}{body}" + draw(st.sampled_from(["", " ", "  "])))
    return e164, ways


def _bulk_phones(values: list[str | None], region: str = "RU") -> list[tuple[int, str | None]]:
    result = bulk_normalise_phones(pa.array(values, pa.string()), region)
    return list(zip(result.status.tolist(), result.values.to_pylist(), strict=True))


def _reference_phone(value: str | None, region: str = "RU") -> tuple[int, str | None]:
    r = normalise_phone(value, region)
    return STATUS_CODES[r.status], r.value


@SETTINGS
@given(mobile_written_many_ways())
def test_every_way_of_writing_one_number_gives_one_e164(case):
    e164, ways = case
    assert _bulk_phones(ways) == [(OK, e164)] * len(ways)
    assert {normalise_phone(w).value for w in ways} == {e164}


@pytest.mark.parametrize("region", ["RU", "BY", "KZ", "US", "DE"])
@SETTINGS
@given(st.lists(st.one_of(phone_like(), st.none(), st.text(max_size=12)), max_size=40))
def test_bulk_phones_equal_the_reference_for_every_value(region, values):
    assert _bulk_phones(values, region) == [_reference_phone(v, region) for v in values]


@SETTINGS
@given(st.lists(phone_like(), max_size=40))
def test_phone_normalisation_is_idempotent(values):
    first = [v for s, v in _bulk_phones(values) if s == OK]
    assert _bulk_phones(first) == [(OK, v) for v in first]
    assert all(normalise_phone(v).value == v for v in first)


@SETTINGS
@given(
    st.lists(
        st.tuples(st.booleans(), st.text(alphabet="0123456789 -().\u00a0", max_size=20)),
        max_size=40,
    )
)
def test_fast_shapes_depend_only_on_plus_and_digits(items):
    """The claim the phone fast path rests on (see hde_core.lists.phones)."""
    for plus, body in items:
        text = ("+" if plus else "") + body
        digits = "".join(c for c in body if c.isdigit())
        if len(digits) < 3:
            continue
        assert _reference_phone(text) == _reference_phone(("+" if plus else "") + digits)


def test_excel_mangled_numbers_are_invalid_never_guessed():
    assert _bulk_phones(["7.91234E+10", "7,91234E+10", "79123456789.0e0"]) == [(2, None)] * 3


local_parts = st.sampled_from(
    ["ivan", "Ivan.Petrov", "INFO", "Support", "a+tag", "o'neil", "иван", "a..b", ".a", "x y", ""]
    + ["l" * n for n in (60, 200, 230, 236, 240, 250)]  # the 254-byte limit, IDN or not
)
domains = st.sampled_from(
    [
        "example.com",
        "Example.COM",
        "mail.ru",
        "пример.рф",
        "xn--e1afmkfd.xn--p1ai",
        "a--b.ru",
        "x.local",
        "mail.test",
        "localhost",
        "1.2.3.4",
        "a.b",
        "-a.com",
        "e" * 63 + ".com",
        "e" * 64 + ".com",
        "",
    ]
)


@st.composite
def email_like(draw: st.DrawFn) -> str:
    at = draw(st.sampled_from(["@", "@", "@", "", "@@", " @"]))
    pad = st.sampled_from(["", "", " ", "\t", "\u00a0", "\u2003", "\n"])
    return draw(pad) + draw(local_parts) + at + draw(domains) + draw(pad)


@SETTINGS
@given(st.lists(st.one_of(email_like(), st.none(), st.text(max_size=10)), max_size=40))
def test_bulk_emails_equal_the_reference_for_every_value(values):
    result = bulk_normalise_emails(pa.array(values, pa.string()))
    got = list(zip(result.status.tolist(), result.values.to_pylist(), strict=True))
    expected = []
    for v in values:
        r = normalise_email(v)
        expected.append((STATUS_CODES[r.status], r.value))
    assert got == expected


@SETTINGS
@given(st.lists(email_like(), max_size=40))
def test_email_normalisation_is_idempotent(values):
    result = bulk_normalise_emails(pa.array(values, pa.string()))
    first = [
        v for s, v in zip(result.status.tolist(), result.values.to_pylist(), strict=True) if s == OK
    ]
    again = bulk_normalise_emails(pa.array(first, pa.string()))
    assert again.values.to_pylist() == first
    assert all(normalise_email(v).value == v for v in first)


def test_deliverability_is_asked_once_per_domain():
    asked: list[str] = []

    def deliverable(domain: str) -> bool:
        asked.append(domain)
        return domain != "nomail.example"

    values = ["a@good.example", "b@good.example", "c@nomail.example", "bad@", "d@Good.Example"]
    result = bulk_normalise_emails(
        pa.array(values), check_deliverability=True, deliverable=deliverable
    )
    assert result.status.tolist() == [0, 0, 2, 2, 0]
    assert sorted(asked) == ["good.example", "nomail.example"]
