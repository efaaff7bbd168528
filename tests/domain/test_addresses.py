"""SPEC §2 normalisation: one recipient however it is written."""

import pytest

from hde_core.domain.addresses import normalise_email, normalise_phone, normalise_telegram
from hde_core.domain.eligibility import AddressStatus


@pytest.mark.parametrize(
    "raw", ["8 (912) 345-67-89", "+7 912 345 67 89", "79123456789", "тел. 8-912-345-67-89"]
)
def test_russian_number_forms_are_one_recipient(raw):
    assert normalise_phone(raw).value == "+79123456789"


@pytest.mark.parametrize("raw", ["7.91234E+10", "12345", "call me", 7.5])
def test_mangled_or_bad_numbers_are_invalid_never_guessed(raw):
    assert normalise_phone(raw).status == AddressStatus.INVALID


@pytest.mark.parametrize("raw", [None, "", "   ", float("nan")])
def test_blank_is_missing(raw):
    assert normalise_phone(raw).status == AddressStatus.MISSING
    assert normalise_email(raw).status == AddressStatus.MISSING


def test_integral_spreadsheet_number_is_kept():
    assert normalise_phone(79123456789.0).value == "+79123456789"


def test_email_trimmed_domain_lowercased_idn_allowed():
    assert normalise_email("  Ivan.Petrov@Example.COM ").value == "Ivan.Petrov@example.com"
    assert normalise_email("иван@пример.рф").ok
    assert normalise_email("ivan@").status == AddressStatus.INVALID


def test_telegram_forms():
    assert normalise_telegram("https://t.me/Ann_Smith").value == "@ann_smith"
    assert normalise_telegram("@Ann_Smith").value == "@ann_smith"
    assert normalise_telegram(" 123456789 ").value == "123456789"
    assert normalise_telegram("a b").status == AddressStatus.INVALID
