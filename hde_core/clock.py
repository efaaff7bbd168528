"""Time, in one place, so tests can move it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def utcnow() -> datetime:
    return datetime.now(UTC)


class Clock:
    """The system clock. Services take a clock instead of calling ``datetime.now``."""

    def now(self) -> datetime:
        return utcnow()


class FrozenClock(Clock):
    """A clock for tests: stands still until moved."""

    def __init__(self, at: datetime | None = None) -> None:
        self._at = at or utcnow()

    def now(self) -> datetime:
        return self._at

    def advance(self, **kwargs: float) -> None:
        self._at += timedelta(**kwargs)
