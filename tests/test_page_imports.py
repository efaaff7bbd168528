"""tools/page_imports.py: the pages (scripts, not a package) keep to the faces' import rule."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("page_imports", ROOT / "tools" / "page_imports.py")
assert _spec and _spec.loader
page_imports = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(page_imports)


def _breaches(tmp_path: Path, source: str) -> list[str]:
    page = tmp_path / "9_page.py"
    page.write_text(source, encoding="utf-8")
    return list(page_imports.breaches(page))


@pytest.mark.parametrize(
    "source",
    [
        "from hde_core.console import tr\n",
        "from hde_core.services import bulk\nfrom hde_core import services\n",
        "from hde_core.dispatch.immediate import initiate_ticket\n",
        "from hde_core.domain.roles import Permission\nimport streamlit as st\n",
    ],
)
def test_use_cases_console_and_domain_types_are_allowed(tmp_path: Path, source: str) -> None:
    assert _breaches(tmp_path, source) == []


@pytest.mark.parametrize(
    ("source", "what"),
    [
        ("from hde_core.db.models import Message\n", "hde_core.db.models.Message"),
        ("import hde_core.channels.email\n", "hde_core.channels.email"),
        ("from hde_core import lists\n", "hde_core.lists"),
        ("from hde_core.services.bulk import _Recent\n", "a private name"),
        ("def f():\n    from hde_core.security import crypto\n", "hde_core.security.crypto"),
    ],
)
def test_tables_adapters_and_private_names_are_refused(
    tmp_path: Path, source: str, what: str
) -> None:
    found = _breaches(tmp_path, source)
    assert len(found) == 1 and what in found[0], found


def test_the_pages_keep_the_rule() -> None:
    assert page_imports.main([]) == 0
