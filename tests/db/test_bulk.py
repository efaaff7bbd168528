"""Bulk inserts (the dispatcher's audit events, ``hde send``'s tickets and messages) store
exactly what the ORM stores, and a unique key still holds — on SQLite and PostgreSQL
(binary COPY there)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import cast

import pytest
from sqlalchemy import Table, func, select

from hde_core.db.bulk import fast_insert
from hde_core.db.models import AuditEvent, Channel, Message, Ticket
from hde_core.domain.tickets import Priority
from tests.dispatch.helpers import provision_telegram


def _table(model) -> Table:
    return cast(Table, model.__table__)


def test_audit_rows_read_back_like_the_orms(app):
    at = datetime(2026, 11, 26, 10, 30, 5, 123456, tzinfo=UTC)
    data = {"recipient": "анна@пример.рф", "row": 7, "send_email": True, "none": None}
    rows = [
        {
            "event": "ticket_created",
            "actor": "lead",
            "at": at + timedelta(seconds=i),
            "ticket_id": 10_000_000_000 + i,  # beyond 32 bits
            "message_id": None,
            "campaign_id": i,
            "channel_id": None,
            "data": {**data, "i": i},
        }
        for i in range(3)
    ]
    with app.db.transaction() as s:
        fast_insert(s, _table(AuditEvent), rows)
        s.add(AuditEvent(**{**rows[0], "actor": "orm"}))
    with app.db.reader() as s:
        stored = list(s.scalars(select(AuditEvent).order_by(AuditEvent.id)))
    fast, orm = stored[:3], stored[3]
    assert [e.at for e in fast] == [r["at"] for r in rows]
    assert [e.data for e in fast] == [r["data"] for r in rows]
    assert [e.ticket_id for e in fast] == [r["ticket_id"] for r in rows]
    assert fast[0].message_id is None and fast[2].campaign_id == 2
    same = ("event", "at", "ticket_id", "message_id", "campaign_id", "channel_id", "data")
    assert {k: getattr(fast[0], k) for k in same} == {k: getattr(orm, k) for k in same}


def test_tickets_and_messages_with_a_duplicate_key_write_nothing(app, tmp_path):
    channel_id = provision_telegram(app, tmp_path, "http://127.0.0.1:9")
    now = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    ticket = {
        "id": 501,
        "subject": "Заказ A-1",
        "body": "Анна, ваш заказ готов.",
        "priority": Priority.HIGH,  # a StrEnum, as the services pass it
        "channel_id": channel_id,
        "author": "agent",
        "created_by": "lead",
        "send_email": False,
        "fields": {"order_id": "A-1"},
        "created_at": now,
        "updated_at": now,
    }
    message = {
        "id": 601,
        "ticket_id": 501,
        "channel_id": channel_id,
        "recipient": "42",
        "kind": "text",
        "status": "queued",
        "payload": {"text": "Привет"},
        "attempts": 0,
        "idempotency_key": "campaign:1:1:42",
        "created_at": now,
        "updated_at": now,
    }
    with app.db.transaction() as s:
        fast_insert(s, _table(Ticket), [ticket])
        fast_insert(s, _table(Message), [message])
    with app.db.reader() as s:
        t = s.get(Ticket, 501)
        m = s.get(Message, 601)
        assert s.get(Channel, channel_id) is not None
    assert (t.priority, t.send_email, t.fields, t.status) == (
        "high",
        False,
        {"order_id": "A-1"},
        "waiting",
    )
    assert (m.payload, m.created_at, m.next_attempt_at) == ({"text": "Привет"}, now, None)

    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError), app.db.transaction() as s:
        fast_insert(s, _table(Message), [{**message, "id": 602, "idempotency_key": "other"}])
        fast_insert(s, _table(Message), [{**message, "id": 603}])  # the same key again
    with app.db.reader() as s:
        assert s.scalar(select(func.count()).select_from(Message)) == 1  # 602 rolled back too
