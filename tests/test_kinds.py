"""The test kinds of tests/conftest.py: `make test-fast` runs the `unit` tests, and a test
taken for a unit test cannot open a database, a TCP socket or a child process."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import NotAUnitTest


def test_a_unit_test_is_marked_unit_only(request: pytest.FixtureRequest) -> None:
    marks = {m.name for m in request.node.iter_markers()}
    assert "unit" in marks
    assert not marks & {"db", "process", "browser"}


def test_a_unit_test_cannot_open_a_tcp_socket() -> None:
    with socket.socket() as sock, pytest.raises(NotAUnitTest, match="pytest.mark.process"):
        sock.bind(("127.0.0.1", 0))


def test_a_unit_test_cannot_start_a_process() -> None:
    with pytest.raises(NotAUnitTest, match="pytest.mark.process"):
        subprocess.run([sys.executable, "-c", "pass"], check=False)


def test_a_unit_test_cannot_open_a_database() -> None:
    engine = create_engine("sqlite://")
    with pytest.raises(NotAUnitTest, match="pytest.mark.db"), engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    engine.dispose()


def test_a_database_test_is_marked_db_and_may_connect(
    request: pytest.FixtureRequest, sqlite_url: str
) -> None:
    assert request.node.get_closest_marker("db") is not None
    assert request.node.get_closest_marker("unit") is None
    engine = create_engine(sqlite_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT 1")).scalar() == 1
    engine.dispose()


@pytest.mark.process
def test_a_process_test_may_start_a_process() -> None:
    assert subprocess.run([sys.executable, "-c", "pass"], check=False).returncode == 0
