"""Dispatcher test helpers: a Telegram channel on the loopback fake (with the test staff
seeded) and queued messages in bulk (shared with the benchmarks:
:mod:`hde_core.sandbox.loadgen`), statuses at a glance."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from sqlalchemy import func, select

from hde_core.bootstrap import App
from hde_core.db.models import Message
from hde_core.sandbox import loadgen
from hde_core.sandbox.loadgen import enqueue
from tests.staff import seed_staff


def provision_telegram(app: App, tmp: Path, url: str, **kw: object) -> int:
    channel = loadgen.provision_telegram(app, tmp, url, **kw)  # type: ignore[arg-type]
    seed_staff(app)
    return channel


def statuses(app: App) -> Counter[str]:
    with app.db.reader() as s:
        return Counter(
            dict(s.execute(select(Message.status, func.count()).group_by(Message.status)).all())
        )


def message(app: App, message_id: int) -> Message:
    with app.db.reader() as s:
        m = s.get(Message, message_id)
        assert m is not None
        return m


__all__ = ["enqueue", "message", "provision_telegram", "statuses"]
