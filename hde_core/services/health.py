"""Is the core up: the database, its schema revision, the channels. Cheap by design (it runs
on every overview); the message figures live in :mod:`hde_core.services.dashboards`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.engine import make_url

from hde_core.bootstrap import App
from hde_core.db.migrate import current_heads, script_heads
from hde_core.db.models import WorkerHeartbeat

#: Heartbeats of workers silent for this long are removed from the health view.
STALE_HEARTBEAT = timedelta(hours=1)


@dataclass
class Health:
    database: str
    schema_current: bool
    revision: str
    #: "sqlite" or "postgresql": what the console says instead of the URL (issue 16.8)
    engine: str = "sqlite"


def masked_database_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def health(app: App) -> Health:
    heads = current_heads(app.db)
    return Health(
        database=masked_database_url(app.db.url),
        schema_current=heads == script_heads(),
        revision=", ".join(sorted(heads)) or "—",
        engine=make_url(app.db.url).get_backend_name(),
    )


def forget_stale_workers(app: App) -> int:
    """Drop the heartbeats of workers silent for :data:`STALE_HEARTBEAT`; returns how many."""
    now = app.clock.now()
    with app.db.transaction() as session:
        result = session.execute(
            delete(WorkerHeartbeat).where(WorkerHeartbeat.heartbeat_at < now - STALE_HEARTBEAT)
        )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
