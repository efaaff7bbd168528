"""Builds the process's parts once: settings, database, secret box, clock.

Nothing is created at import time; every face (CLI, console, worker, webhook
receiver, tests) calls :func:`bootstrap` and passes the :class:`App` down.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from hde_core.clock import Clock
from hde_core.config import Settings, load_settings
from hde_core.db.migrate import ensure_current
from hde_core.db.session import Database
from hde_core.security.crypto import SecretBox


@dataclass
class App:
    settings: Settings
    db: Database
    secrets: SecretBox
    clock: Clock = field(default_factory=Clock)

    @property
    def lang(self) -> str:
        return self.settings.lang

    def close(self) -> None:
        self.db.dispose()


def bootstrap(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    check_schema: bool = True,
) -> App:
    settings = settings or load_settings()
    db = Database(settings.resolved_database_url)
    if check_schema:
        ensure_current(db)
    return App(
        settings=settings,
        db=db,
        secrets=SecretBox(settings.resolved_secret_key),
        clock=clock or Clock(),
    )


def configure_logging(level: int = logging.INFO) -> None:
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    # httpx logs full request URLs at INFO; Telegram and Green-API put tokens in the URL path.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    # aiosmtpd logs every SMTP conversation at INFO (about ten lines a mail: 55,000 lines for
    # one sandbox campaign, issue 16.9); the demo prints a summary per minute instead.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
