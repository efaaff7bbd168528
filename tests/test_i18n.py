"""Every user-facing string exists in Russian and English."""

import re
from pathlib import Path

from hde_core.i18n import catalogue, t

ROOT = Path(__file__).resolve().parent.parent


def test_both_catalogues_have_the_same_keys():
    assert set(catalogue("ru")) == set(catalogue("en"))


def test_keys_used_in_code_exist():
    pattern = re.compile(
        r"""(?:\bt|\btr|\bsay|\bwarn|Error|Refused|Invalid|Outdated|Found|Denied)\(\s*["']([a-z_]+(?:\.[a-z_]+)+)["']"""
    )
    used = set()
    for path in (
        list((ROOT / "hde_core").rglob("*.py"))
        + [ROOT / "app.py"]
        + list((ROOT / "pages").glob("*.py"))
    ):
        used |= set(pattern.findall(path.read_text(encoding="utf-8")))
    missing = sorted(k for k in used if k not in catalogue("en"))
    assert missing == []


def test_russian_is_the_default(monkeypatch):
    monkeypatch.delenv("HDE_LANG", raising=False)
    assert t("reason.opted_out") == "Просил не писать ему в этот канал."
    assert t("reason.opted_out", lang="en") == "Asked not to be contacted on this channel."


def test_parameters_are_filled_and_missing_ones_stay_visible():
    assert t("reason.missing_field", lang="en", field="city") == "A required field is empty: city."
    assert "{field}" in t("reason.missing_field", lang="en")
