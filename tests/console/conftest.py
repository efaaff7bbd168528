"""Console test harness: a migrated SQLite database the console's own App reads, users per role,
and AppTest runners (signed in by seeding the session, or through the real sign-in form)."""

from __future__ import annotations

import logging
import traceback
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from hde_core.bootstrap import bootstrap
from hde_core.console import get_app
from hde_core.services import sessions
from hde_core.services.authz import SYSTEM
from hde_core.services.users import add_user
from tests.conftest import TEST_SECRET, make_settings

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct-horse-42"
ROLES = ("admin", "team_lead", "agent", "viewer")


class _Incidents(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(autouse=True)
def console_incidents():
    """A page that fails shows an incident message instead of a traceback, so AppTest's
    ``at.exception`` stays empty: any incident logged during a test fails the test (a test
    that provokes one on purpose takes it from this list)."""
    handler = _Incidents()
    logger = logging.getLogger("hde_core.console")
    logger.addHandler(handler)
    yield handler.records
    logger.removeHandler(handler)
    if handler.records:
        record = handler.records[0]
        pytest.fail(
            f"the console hit an internal error: {record.getMessage()}\n"
            + "".join(traceback.format_exception(*record.exc_info))
            if record.exc_info
            else record.getMessage()
        )


@pytest.fixture
def console_app(sqlite_url, data_dir, monkeypatch):
    """The App the console will build (same database), with one user per role."""
    monkeypatch.setenv("HDE_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("HDE_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("HDE_DATA_DIR", str(data_dir))
    monkeypatch.delenv("HDE_LANG", raising=False)
    st.cache_resource.clear()  # the console caches its App per process
    app = bootstrap(make_settings(sqlite_url, data_dir))
    for role in ROLES:
        add_user(app, role, role, PASSWORD, SYSTEM, display_name=f"{role.title()} User")
    yield app
    app.close()
    st.cache_resource.clear()


def signed_in(login: str) -> str:
    """A real console session for ``login`` (AppTest has no cookie: the page finds the
    token in its session state), as the sign-in form starts one."""
    return sessions.start(get_app(), login).token


def run_page(path: str, role: str | None = "admin", lang: str | None = None, **state) -> AppTest:
    """Run one page as ``role`` (None: not signed in)."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    if path != "app.py":
        at.switch_page(path)
    if role:
        at.session_state["session_token"] = signed_in(role)
    if lang:
        at.session_state["lang"] = lang
    for key, value in state.items():
        at.session_state[key] = value
    return at.run()
