"""One sender per channel: which worker hands a channel's messages to its provider.

Any number of workers run; each channel is sent by one of them at a time, so its pace is
kept by one :class:`~hde_core.dispatch.pacing.Pacer` on one clock (three workers late at
different moments would crowd one second at the provider). The others send the other
channels, and take a channel over within :data:`RETRY` seconds when its sender stops or
dies — the lock dies with its process:

- PostgreSQL: a session advisory lock per channel on a connection of its own
  (``pg_try_advisory_lock``), released when the connection closes;
- SQLite: an ``flock`` on a file beside the database file, released when the file is
  closed (an in-memory database has one process: it always holds).
"""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path
from typing import IO

from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url

from hde_core.bootstrap import App

try:
    import fcntl
except ImportError:  # pragma: no cover - not a supported platform for several workers
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

#: Seconds between two tries at a channel another worker sends.
RETRY = 1.0
#: First key of the advisory locks ("HDES"); the second is the channel id.
_NAMESPACE = 0x48444553


class SenderLocks:
    """The channels this worker sends (used from the worker's claim thread only)."""

    def __init__(self, app: App) -> None:
        self._app = app
        self._held: set[int] = set()
        self._retry_at: dict[int, float] = {}
        self._conn: Connection | None = None
        self._files: dict[int, IO[bytes]] = {}
        self._path: Path | None = None
        if app.db.is_sqlite:
            database = make_url(app.db.url).database
            if database and database != ":memory:":
                self._path = Path(database)

    def holds(self, channel_id: int) -> bool:
        """Whether this worker sends ``channel_id`` (taking it when nobody does)."""
        if channel_id in self._held:
            return True
        now = time.monotonic()
        if self._retry_at.get(channel_id, 0.0) > now:
            return False
        self._retry_at[channel_id] = now + RETRY
        try:
            got = self._acquire(channel_id)
        except Exception:  # noqa: BLE001 - the database went away: hold nothing, try later
            log.exception("could not take the sender lock of channel %s", channel_id)
            self.release_all()
            return False
        if got:
            self._held.add(channel_id)
        return got

    def retry_in(self, channel_id: int) -> float:
        """Seconds until :meth:`holds` tries ``channel_id`` again."""
        return max(0.0, self._retry_at.get(channel_id, 0.0) - time.monotonic())

    def _acquire(self, channel_id: int) -> bool:
        if self._app.db.is_sqlite:
            return self._acquire_file(channel_id)
        if self._conn is None:
            self._conn = self._app.db.engine.connect().execution_options(
                isolation_level="AUTOCOMMIT"
            )
        return bool(
            self._conn.execute(
                text("SELECT pg_try_advisory_lock(:ns, :channel)"),
                {"ns": _NAMESPACE, "channel": channel_id},
            ).scalar()
        )

    def _acquire_file(self, channel_id: int) -> bool:
        if self._path is None or fcntl is None:
            return True
        lock = self._path.with_name(f"{self._path.name}.sender-{channel_id}.lock")
        handle = open(lock, "ab")  # noqa: SIM115 - kept open while the lock is held
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._files[channel_id] = handle
        return True

    def release_all(self) -> None:
        """Let other workers send these channels (the worker stops)."""
        self._held.clear()
        for handle in self._files.values():
            handle.close()  # closing drops the flock
        self._files.clear()
        if self._conn is not None:
            # a pooled connection outlives close(): unlock first, and never pool it again
            with contextlib.suppress(Exception):
                self._conn.execute(text("SELECT pg_advisory_unlock_all()"))
            with contextlib.suppress(Exception):
                self._conn.invalidate()
                self._conn.close()
            self._conn = None
