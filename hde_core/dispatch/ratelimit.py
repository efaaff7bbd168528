"""Channel rate limits shared by every worker: one token bucket row per channel (SPEC §7).

Why in the database: a per-process ``sleep`` cannot hold a limit across three
workers on three machines. The bucket row of a channel is locked, refilled and
spent inside the claim transaction, so the tokens a worker takes are exactly the
messages it commits as ``sending``, and no other worker can spend them too.

The bucket gains ``rate_per_sec`` tokens per second and holds at most *a quarter of* the
channel's ``burst`` (:func:`bucket_capacity`). The rest is headroom for what happens
between a claim and the provider (an event loop or the network holding a send back a
little), so no one-second window at the provider exceeds ``rate + burst``. A new bucket
starts as an idle one is, with its capacity: no more than any idle channel may send at once.

**Claims ahead, sends paced** (issue 14.2). A claim may take tokens that have not accrued
yet, up to ``lookahead`` seconds ahead (the bucket goes below zero), so claims need not
keep up with every token: tokens accrue by elapsed time whatever a claim cycle or the
provider's answer costs. When each claimed message leaves is decided by the channel's one
sender (:mod:`hde_core.dispatch.senders`) at the moment it leaves
(:mod:`hde_core.dispatch.pacing`), so sends in flight overlap freely and no one-second
window at the provider exceeds ``rate + burst``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from hde_core.db.models import RateBucket

#: Tokens are floats; this much below a whole token still counts as one (float noise).
_EPSILON = 1e-9


def bucket_capacity(burst: int) -> int:
    """Tokens a bucket may hold: a quarter of the channel's burst (at least one), see above."""
    return max(1, math.ceil(burst / 4))


def refill(tokens: float, refilled_at: datetime, now: datetime, rate: float, burst: int) -> float:
    """Tokens in the bucket at ``now``: what was there plus what the rate added, at most
    the bucket's capacity (a bucket in debt after an interactive send pays it back first)."""
    elapsed = max(0.0, (now - refilled_at).total_seconds())
    return min(float(bucket_capacity(burst)), tokens + elapsed * max(rate, 0.0))


def whole_tokens(tokens: float) -> int:
    return max(0, math.floor(tokens + _EPSILON))


def seconds_until(tokens: float, rate: float, need: float = 1.0) -> float:
    """How long until the bucket holds ``need`` tokens."""
    if tokens + _EPSILON >= need:
        return 0.0
    if rate <= 0:
        return math.inf
    return (need - tokens) / rate


@dataclass
class Allowance:
    """What the locked bucket allows now; :meth:`spend` records what was taken."""

    row: RateBucket
    tokens: float
    rate: float
    now: datetime

    @property
    def available(self) -> int:
        return whole_tokens(self.tokens)

    def wait(self) -> float:
        return seconds_until(self.tokens, self.rate)

    def ahead(self, lookahead: float) -> float:
        """Tokens available when those of the next ``lookahead`` seconds count too."""
        return self.tokens + max(self.rate, 0.0) * max(lookahead, 0.0)

    def spend(self, count: int) -> None:
        """Take ``count`` tokens (the bucket may go into debt when ``count`` exceeds them:
        interactive single tickets are never kept waiting, later claims pay for them)."""
        if count <= 0:
            return
        self.row.tokens = self.tokens - count
        self.row.refilled_at = self.now


def ensure_bucket(session: Session, channel_id: int, now: datetime, tokens: float = 0.0) -> None:
    """Create the channel's bucket unless it exists; safe when workers race."""
    dialect = session.get_bind().dialect.name
    values = {"channel_id": channel_id, "tokens": tokens, "refilled_at": now}
    if dialect == "postgresql":
        session.execute(pg_insert(RateBucket).values(values).on_conflict_do_nothing())
    elif dialect == "sqlite":
        session.execute(sqlite_insert(RateBucket).values(values).on_conflict_do_nothing())
    else:  # pragma: no cover - only the two supported databases
        session.execute(insert(RateBucket).values(values))


def lock_bucket(
    session: Session,
    channel_id: int,
    rate: float,
    burst: int,
    now: datetime,
    *,
    skip_locked: bool,
) -> Allowance | None:
    """Lock the bucket row for this transaction and refill it.

    ``None`` when another worker holds it right now (``skip_locked``): that worker
    is claiming on this channel, so this one moves on instead of queueing behind it.
    On SQLite the whole transaction is the lock (``BEGIN IMMEDIATE``).
    """
    stmt = select(RateBucket).where(RateBucket.channel_id == channel_id)
    if session.get_bind().dialect.name != "sqlite":
        stmt = stmt.with_for_update(skip_locked=skip_locked)
    row = session.scalars(stmt).first()
    if row is None:
        ensure_bucket(session, channel_id, now, float(bucket_capacity(burst)))
        row = session.scalars(stmt).first()
        if row is None:  # created by a worker that still holds it
            return None
    # The caller read the clock before it got the lock; another worker may have refilled
    # the bucket after that instant. Never move the bucket's clock backwards, or the span
    # between the two instants would be refilled twice (more tokens than the rate allows).
    now = max(now, row.refilled_at)
    tokens = refill(row.tokens, row.refilled_at, now, rate, burst)
    return Allowance(row=row, tokens=tokens, rate=rate, now=now)
