"""Shared fixtures: a fresh migrated database per test (SQLite, and PostgreSQL when
``HDE_TEST_POSTGRES_URL`` is set — mandatory under ``CI=true``), the app, the SMTP sink."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import Pool

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


# --- Test kinds -------------------------------------------------------------------------
# Every test carries one or more of the markers db / process / browser, or else `unit`:
#   unit    — pure code: no database, no socket, no child process (`make test-fast`);
#   db      — a migrated database (SQLite file, PostgreSQL too when configured);
#   process — a child process or a network server (hde CLI, simulators, SMTP sink, workers);
#   browser — the real console in Chromium.
# The collection hook below assigns them from the directory and the fixtures a test uses
# (a fixture that starts a server or a process is listed in PROCESS_FIXTURES); a test that
# starts one in its own body says so with `@pytest.mark.process`.
# A test taken for `unit` that opens a database, a TCP socket or a child process fails and
# says which mark it needs, so `make test-fast` stays honest and fast.

#: Every database fixture is built on one of these templates.
DB_FIXTURES = frozenset({"db_url", "sqlite_url", "sqlite_template", "pg_template"})
#: Shared fixtures that start a server or a child process.
PROCESS_FIXTURES = frozenset(
    {
        "smtp_sink", "cli_env", "sim_url", "sim_server", "sim", "echo_url", "loopback",
        "fake", "server", "receiver", "world", "lead", "demo", "console", "demo_console",
    }
)  # fmt: skip
PROCESS_DIRS = frozenset({"e2e", "sandbox"})
BROWSER_DIRS = frozenset({"browser"})
KINDS = ("db", "process", "browser")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = Path(__file__).resolve().parent
    for item in items:
        try:
            parts = set(item.path.resolve().relative_to(root).parts[:-1])
        except ValueError:
            parts = set()
        fixtures = set(getattr(item, "fixturenames", ()))
        if parts & BROWSER_DIRS:
            item.add_marker(pytest.mark.browser)
        if parts & PROCESS_DIRS or fixtures & PROCESS_FIXTURES:
            item.add_marker(pytest.mark.process)
        if fixtures & DB_FIXTURES:
            item.add_marker(pytest.mark.db)
        if not any(item.get_closest_marker(kind) for kind in KINDS):
            item.add_marker(pytest.mark.unit)


class NotAUnitTest(AssertionError):
    pass


def _refuse(what: str, mark: str) -> NotAUnitTest:
    return NotAUnitTest(
        f"this test {what}: it is not a unit test — mark it `pytest.mark.{mark}` "
        "(or use a fixture that does) so that `make test-fast` leaves it out"
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    with _UnitGuard(item):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    with _UnitGuard(item):
        return (yield)


class _UnitGuard:
    """While a `unit` test runs: no database connection, TCP socket or child process."""

    def __init__(self, item: pytest.Item) -> None:
        self.active = item.get_closest_marker("unit") is not None
        self.patches: list[tuple[object, str, object]] = []

    def __enter__(self) -> None:
        if not self.active:
            return

        def on_connect(*_: object) -> None:
            raise _refuse("opens a database", "db")

        def no_socket(original):  # type: ignore[no-untyped-def]
            def guarded(sock: socket.socket, *args: object) -> object:
                if sock.family in (socket.AF_INET, socket.AF_INET6):
                    raise _refuse("opens a TCP socket", "process")
                return original(sock, *args)

            return guarded

        def no_process(*_: object, **__: object) -> None:
            raise _refuse("starts a child process", "process")

        event.listen(Pool, "connect", on_connect)
        self._on_connect = on_connect
        for name in ("bind", "connect", "connect_ex"):
            self._patch(socket.socket, name, no_socket(getattr(socket.socket, name)))
        self._patch(subprocess.Popen, "__init__", no_process)

    def _patch(self, owner: object, name: str, value: object) -> None:
        self.patches.append((owner, name, getattr(owner, name)))
        setattr(owner, name, value)

    def __exit__(self, *_: object) -> None:
        if not self.active:
            return
        event.remove(Pool, "connect", self._on_connect)
        for owner, name, original in reversed(self.patches):
            setattr(owner, name, original)
        self.patches.clear()


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
    add_cli_user(sqlite_url, "tester", "admin")
    return env


def add_cli_user(url: str, login: str, role: str, active: bool = True) -> None:
    """A console user for the command line to act as (``hde`` refuses unknown actors)."""
    from hde_core.db.models import User

    db = Database(url)
    try:
        with db.transaction() as session:
            session.add(
                User(
                    login=login, role=role, password_hash="x", display_name=login, is_active=active
                )
            )
    finally:
        db.dispose()
