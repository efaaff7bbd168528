"""An early status (its message not recorded yet) is kept once, whatever the timing: the
unique key decides, not a look before the insert (issue 15)."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select

from hde_core.db.models import PendingStatus
from hde_core.domain.statuses import MessageStatus as S
from hde_core.services.statuses import apply_status
from tests.services.test_webhooks_record import tg  # noqa: F401


def pending(app) -> list[tuple[str, str]]:
    with app.db.reader() as s:
        rows = s.execute(select(PendingStatus.provider_message_id, PendingStatus.status))
        return sorted((pid, status) for pid, status in rows)


def test_a_redelivered_status_is_kept_once(app, tg, clock):  # noqa: F811
    for _ in range(2):
        with app.db.transaction() as s:
            apply_status(s, tg, "early-1", S.DELIVERED, clock.now(), keep_if_unknown=True)
    with app.db.transaction() as s:  # another status of the same id is its own row
        apply_status(s, tg, "early-1", S.READ, clock.now(), keep_if_unknown=True)
    assert pending(app) == [("early-1", "delivered"), ("early-1", "read")]


def test_two_receivers_racing_store_one_row(app, tg, clock):  # noqa: F811
    """The first receiver has stored the status and not committed yet when the second one
    stores the same: a look before the insert sees nothing and both rows would stay."""
    if app.db.is_sqlite:
        pytest.skip("SQLite has one writer at a time; the race is a PostgreSQL one")
    first_stored = threading.Event()
    errors: list[BaseException] = []

    def first() -> None:
        try:
            with app.db.transaction() as s:
                apply_status(s, tg, "race-1", S.DELIVERED, clock.now(), keep_if_unknown=True)
                first_stored.set()
                time.sleep(0.5)  # the second receiver arrives now
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
            first_stored.set()

    def second() -> None:
        try:
            first_stored.wait(10)
            with app.db.transaction() as s:
                apply_status(s, tg, "race-1", S.DELIVERED, clock.now(), keep_if_unknown=True)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert pending(app) == [("race-1", "delivered")]
    with app.db.reader() as s:
        assert s.scalar(select(func.count()).select_from(PendingStatus)) == 1


def test_the_migration_merges_rows_stored_twice(app, tg, clock):  # noqa: F811
    """Migration 0011: rows an old version stored twice become one before the unique key."""
    from alembic import command
    from sqlalchemy import text

    from hde_core.db.migrate import migrate, upgrade

    migrate(app.db, "0010", command.downgrade)
    with app.db.engine.begin() as conn:
        for status in ("delivered", "delivered", "read"):
            conn.execute(
                text(
                    "INSERT INTO pending_statuses"
                    " (channel_id, provider_message_id, status, occurred_at, payload, created_at)"
                    " VALUES (:c, 'old-1', :s, :at, '{}', :at)"
                ),
                {"c": tg, "s": status, "at": clock.now()},
            )
    migrate(app.db, "0011")  # just this one, to look before the later ones
    assert pending(app) == [("old-1", "delivered"), ("old-1", "read")]
    with app.db.transaction() as s:  # and the key holds from now on
        apply_status(s, tg, "old-1", S.DELIVERED, clock.now(), keep_if_unknown=True)
    assert pending(app) == [("old-1", "delivered"), ("old-1", "read")]
    upgrade(app.db)  # leave the database current


def test_a_status_that_came_first_is_applied_when_the_send_is_recorded(app, tg, clock):  # noqa: F811
    """A provider may report 'delivered' before the dispatcher stored its message id."""
    from hde_core.db.models import Message
    from hde_core.services.statuses import apply_pending_statuses
    from hde_core.services.webhooks import record_events
    from tests.services.test_webhooks_record import _ticket_with_message, inbound

    record_events(app, tg, [inbound(clock)])  # the client wrote first (R3)
    with app.db.transaction() as s:
        apply_status(s, tg, "tg-early", S.DELIVERED, clock.now(), keep_if_unknown=True)
    assert pending(app) == [("tg-early", "delivered")]
    mid = _ticket_with_message(app, tg, S.SENT.value, pid="tg-early")
    with app.db.transaction() as s:
        apply_pending_statuses(s, [(tg, "tg-early"), (tg, "tg-other")])
    with app.db.reader() as s:
        assert s.get(Message, mid).status == S.DELIVERED.value
    assert pending(app) == []
