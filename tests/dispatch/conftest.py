"""Dispatcher tests run on a clock that ticks in real time (token buckets refill) and can
still be moved forward (backoff, leases) — on SQLite and PostgreSQL like every test."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from hde_core.clock import FrozenClock, utcnow
from hde_core.sandbox.fake_telegram import FakeTelegram


class LiveClock(FrozenClock):
    def __init__(self) -> None:
        super().__init__()
        self.offset = timedelta()

    def now(self) -> datetime:
        return utcnow() + self.offset

    def advance(self, **kwargs: float) -> None:
        self.offset += timedelta(**kwargs)


@pytest.fixture
def clock() -> LiveClock:
    return LiveClock()


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegram() as server:
        yield server
