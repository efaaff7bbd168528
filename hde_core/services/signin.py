"""How often a console client may try to sign in (issue 14.6).

Two limits, neither of which depends on whether the login exists (so the answer never
tells an outsider which logins do):

- per login *and* client: after :data:`PAIR_FAILURES` wrong passwords in a row that
  client is paused for that login for :data:`PAIR_PAUSE`. Someone else trying an admin's
  login from another machine pauses only themselves: the admin still signs in.
- per client: after :data:`CLIENT_FAILURES` failures within :data:`CLIENT_WINDOW`, for
  any logins, the client is paused for :data:`CLIENT_PAUSE` (guessing across logins).

The counters live in the console process (the console runs as one process).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

PAIR_FAILURES = 5
PAIR_PAUSE = timedelta(minutes=5)
CLIENT_FAILURES = 20
CLIENT_WINDOW = timedelta(minutes=15)
CLIENT_PAUSE = timedelta(minutes=15)
#: Counters kept at most (oldest forgotten first), so a flood cannot grow memory.
MAX_ENTRIES = 100_000


@dataclass
class _Counter:
    failures: int
    since: datetime
    paused_until: datetime | None = None


class SignInThrottle:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pairs: dict[tuple[str, str], _Counter] = {}
        self._clients: dict[str, _Counter] = {}

    @staticmethod
    def _key(login: str) -> str:
        return login.strip().casefold()

    def paused_until(self, login: str, client: str, now: datetime) -> datetime | None:
        """Until when this client may not try this login (None: it may try now)."""
        with self._lock:
            times = [
                c.paused_until
                for c in (self._pairs.get((self._key(login), client)), self._clients.get(client))
                if c is not None and c.paused_until is not None and c.paused_until > now
            ]
        return max(times) if times else None

    def failed(self, login: str, client: str, now: datetime) -> None:
        with self._lock:
            pair = self._count(self._pairs, (self._key(login), client), now, PAIR_PAUSE)
            if pair.failures >= PAIR_FAILURES:
                pair.paused_until, pair.failures = now + PAIR_PAUSE, 0
            whole = self._count(self._clients, client, now, CLIENT_WINDOW)
            if whole.failures >= CLIENT_FAILURES:
                whole.paused_until, whole.failures = now + CLIENT_PAUSE, 0

    def succeeded(self, login: str, client: str) -> None:
        with self._lock:
            self._pairs.pop((self._key(login), client), None)

    @staticmethod
    def _count(table: dict, key: object, now: datetime, window: timedelta) -> _Counter:  # type: ignore[type-arg]
        counter = table.get(key)
        if counter is None or now - counter.since > window:
            paused = counter.paused_until if counter else None
            counter = _Counter(0, now, paused)
            if len(table) >= MAX_ENTRIES:
                table.pop(next(iter(table)))
            table[key] = counter
        counter.failures += 1
        return counter


_THROTTLES: dict[str, SignInThrottle] = {}
_THROTTLES_LOCK = threading.Lock()


def throttle_for(database_url: str) -> SignInThrottle:
    """The console process's throttle for the users of one database."""
    with _THROTTLES_LOCK:
        return _THROTTLES.setdefault(database_url, SignInThrottle())
