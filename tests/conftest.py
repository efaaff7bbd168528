"""Shared fixtures: a fresh migrated database per test (SQLite, and PostgreSQL when
``HDE_TEST_POSTGRES_URL`` is set — mandatory under ``CI=true``), the app, the SMTP sink."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from hde_core.bootstrap import App, bootstrap
from hde_core.clock import FrozenClock
from hde_core.config import Settings
from hde_core.db.migrate import upgrade
from hde_core.db.session import Database
from hde_core.sandbox.smtp_sink import SmtpSink, mail_dir

CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PG_URL = os.environ.get("HDE_TEST_POSTGRES_URL", "")
TEST_SECRET = "test-secret-key-0123456789abcdef"


def require_postgres() -> str:
    """The PostgreSQL server URL, or skip (fail under CI=true) saying what is missing."""
    if PG_URL:
        return PG_URL
    message = "PostgreSQL not configured: set HDE_TEST_POSTGRES_URL (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/postgres)"
    if CI:
        pytest.fail(message + " — mandatory under CI=true")
    pytest.skip(message)


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tpl") / "template.db"
    db = Database(f"sqlite:///{path}")
    upgrade(db)
    db.dispose()
    return path


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A migrated template database, cloned for each test (CREATE DATABASE … TEMPLATE)."""
    server = require_postgres()
    name = f"hde_tpl_{_worker()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    db = Database(url)
    upgrade(db)
    db.dispose()
    yield name
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _pg_clone(template: str) -> tuple[str, str]:
    server = require_postgres()
    name = f"hde_t_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    admin.dispose()
    return name, make_url(server).set(database=name).render_as_string(hide_password=False)


def _pg_drop(name: str) -> None:
    admin = create_engine(require_postgres(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database for one test: on SQLite, and on PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "hde.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    template = request.getfixturevalue("pg_template")
    name, url = _pg_clone(template)
    yield url
    _pg_drop(name)


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    """SQLite only, for tests about the CLI, files and the console."""
    path = tmp_path / "hde.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    return d


def make_settings(url: str, data_dir: Path, **extra: object) -> Settings:
    return Settings(database_url=url, secret_key=TEST_SECRET, data_dir=data_dir, lang="en", **extra)  # type: ignore[arg-type]


@pytest.fixture
def settings(db_url: str, data_dir: Path) -> Settings:
    return make_settings(db_url, data_dir)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def app(settings: Settings, clock: FrozenClock) -> Iterator[App]:
    application = bootstrap(settings, clock=clock)
    yield application
    application.close()


@pytest.fixture
def smtp_sink(data_dir: Path) -> Iterator[SmtpSink]:
    """A real SMTP server keeping mail where ``hde sandbox mail`` and the console look."""
    with SmtpSink(mail_dir(data_dir)) as sink:
        yield sink


@pytest.fixture
def cli_env(sqlite_url: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment for running ``hde`` as a user would (a subprocess), on SQLite."""
    env = {
        **os.environ,
        "HDE_DATABASE_URL": sqlite_url,
        "HDE_SECRET_KEY": TEST_SECRET,
        "HDE_DATA_DIR": str(data_dir),
        "HDE_LANG": "en",
        "HDE_ACTOR": "tester",
    }
    return env
