"""Is the core up: the database, its schema revision, the channels. Cheap by design (it runs
on every overview); the message figures live in :mod:`hde_core.services.dashboards`."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import make_url

from hde_core.bootstrap import App
from hde_core.db.migrate import current_heads, script_heads


@dataclass
class Health:
    database: str
    schema_current: bool
    revision: str


def masked_database_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def health(app: App) -> Health:
    heads = current_heads(app.db)
    return Health(
        database=masked_database_url(app.db.url),
        schema_current=heads == script_heads(),
        revision=", ".join(sorted(heads)) or "—",
    )
