"""The console home page (Streamlit AppTest): the core is up, channels and sandbox mail shown."""

from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from hde_core.bootstrap import bootstrap
from hde_core.services.tickets import TicketRequest, initiate_ticket
from tests.conftest import TEST_SECRET, make_settings
from tests.services.helpers import provision_email

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def console_env(sqlite_url, data_dir, monkeypatch):
    monkeypatch.setenv("HDE_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("HDE_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("HDE_DATA_DIR", str(data_dir))
    monkeypatch.delenv("HDE_LANG", raising=False)
    st.cache_resource.clear()  # the console caches its App per process
    app = bootstrap(make_settings(sqlite_url, data_dir))
    yield app
    app.close()
    st.cache_resource.clear()


def run_home(lang=None):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    if lang:
        at.session_state["lang"] = lang
    return at.run()


def test_home_shows_the_core_in_russian_by_default(console_env, tmp_path, smtp_sink):
    provision_email(console_env, tmp_path, smtp_sink.url)
    initiate_ticket(
        console_env,
        TicketRequest("email", "a@example.com", "Тема письма", "b", fields={"order_id": "1"}),
        "alice",
    )
    at = run_home()
    assert not at.exception
    assert at.title[0].value == "HDE Outreach"
    assert [m.label for m in at.metric] == ["Схема базы данных", "Заявки", "Сообщения"]
    assert at.metric[0].value == "Актуальна"
    assert at.metric[1].value == "1"
    channels = at.dataframe[0].value
    assert list(channels["Название"]) == ["email"]
    mail = at.dataframe[1].value
    assert list(mail["Тема"]) == ["[#1] Тема письма"]


def test_home_in_english(console_env):
    at = run_home("en")
    assert not at.exception
    assert [m.label for m in at.metric] == ["Database schema", "Tickets", "Messages"]
    assert "No channels yet" in at.info[0].value
