"""``hde worker``: the dispatcher loop (async; any number of them on PostgreSQL).

One worker keeps up to ``concurrency`` sends in flight. Three tasks share it:

- the **claimer** asks each sendable channel it is the sender of
  (:mod:`~hde_core.dispatch.senders`: one worker per channel at a time) for as many
  due messages as its shared token bucket allows, ``pace_ahead`` seconds ahead
  (:func:`~hde_core.dispatch.claim.claim_channel`: committed as ``sending`` before any
  network call) and starts one send per message; when nothing is due it sleeps until a
  token, a paused channel or the poll interval comes;
- the **senders** wait for their turn at the channel's pace
  (:class:`~hde_core.dispatch.pacing.Pacer`), then call the adapters (httpx /
  aiosmtplib) concurrently;
- the **recorder** stores finished outcomes in batches with guarded transitions.

Database work runs in threads so sending never waits for it. ``stop()`` (SIGTERM)
stops claiming, lets in-flight sends finish and records them, then returns.
The worker also runs the periodic jobs (:mod:`hde_core.dispatch.periodic`) and
keeps its heartbeat row fresh for the console's health view.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import random
import socket
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import httpx
from sqlalchemy import delete, select, update

from hde_core.bootstrap import App
from hde_core.channels.base import new_http_client
from hde_core.db.models import WorkerHeartbeat
from hde_core.dispatch import periodic
from hde_core.dispatch.channels import sendable_channels
from hde_core.dispatch.claim import (
    Claimed,
    claim_channel,
    new_worker_id,
    nothing_due,
)
from hde_core.dispatch.options import WorkerOptions, WorkerStats
from hde_core.dispatch.pacing import GATE, Gate, Pacer
from hde_core.dispatch.record import record_outcomes
from hde_core.dispatch.send import AdapterCache, send_one
from hde_core.dispatch.senders import SenderLocks
from hde_core.dispatch.transport import DispatchClient
from hde_core.domain.outcomes import (
    Disconnected,
    Retry,
    SendOutcome,
)

log = logging.getLogger("hde.worker")
T = TypeVar("T")

#: Wait this long before asking a channel again when another worker was claiming on it.
BUSY_RETRY = 0.005
#: Never sleep less than this between two empty claim rounds (a token is due "now").
MIN_SLEEP = 0.002
HEARTBEAT_EVERY = 10.0
#: After a refused credential, this worker waits this long before looking at the channel
#: again; by then the recorder has marked it disconnected for every worker.
LOCAL_DISCONNECT_PAUSE = 1.0
#: How long adapters (and decrypted credentials) are reused before re-reading the channel.
ADAPTER_TTL = 5.0
#: How long the list of sendable channels is reused between claim rounds.
CHANNELS_TTL = 1.0


@dataclass
class _Round:
    claimed: list[Claimed] = field(default_factory=list)
    #: Seconds until something may become claimable (None: nothing is waiting for time).
    wake_in: float | None = None
    #: Some channel was short of tokens or busy: work is waiting, just not this instant.
    waiting: bool = False
    #: Some channel is sent by another worker (``until_idle`` waits for it, not claims).
    elsewhere: bool = False


class Worker:
    def __init__(
        self,
        app: App,
        options: WorkerOptions | None = None,
        *,
        worker_id: str | None = None,
        http: httpx.AsyncClient | None = None,
        on_outcome: Callable[[Claimed, SendOutcome], None] | None = None,
    ) -> None:
        self.app = app
        self.options = options or WorkerOptions()
        self.worker_id = worker_id or new_worker_id()
        self.stats = WorkerStats()
        self._http = http
        self._on_outcome = on_outcome
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._stop_requested = False
        self._idle_until: dict[int, float] = {}
        #: Channels this worker must not claim on yet: a provider just asked to wait (or
        #: refused the credentials) and the recorder has not stored the pause for all yet.
        self._paused_until: dict[int, float] = {}
        self._adapters_at: dict[int, float] = {}
        #: When a channel's bucket has its next batch of send slots (it told this worker).
        self._token_at: dict[int, float] = {}
        #: Each channel's pace on this worker, and its messages claimed and still waiting
        #: for their turn (a claim takes no more than ``pace_ahead`` of them).
        self._pacers: dict[int, Pacer] = {}
        self._queued: dict[int, int] = {}
        self._senders = SenderLocks(app)
        self._channels: tuple[list[int], datetime | None] = ([], None)
        self._channels_until = 0.0
        self._rotation = random.randrange(1_000)
        self._db_turn = threading.Lock() if app.db.is_sqlite else None

    # -- control --------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop claiming; in-flight sends finish and are recorded. Safe from any thread."""
        self._stop_requested = True
        if self._loop is not None and self._stopping is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended
                self._loop.call_soon_threadsafe(self._stopping.set)

    @property
    def stopping(self) -> bool:
        return self._stop_requested

    def run_sync(self) -> WorkerStats:
        return asyncio.run(self.run())

    # -- the loop -------------------------------------------------------------------------

    async def run(self) -> WorkerStats:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        if self._stop_requested:
            self._stopping.set()
        own_http = self._http is None
        http = self._http or _http_client(self.options)
        adapters = AdapterCache(http)
        results: asyncio.Queue[tuple[Claimed, SendOutcome] | None] = asyncio.Queue()
        inflight = 0  # sends running now
        unrecorded = 0  # claimed and not yet recorded (in flight or waiting for the recorder)
        slot_free = asyncio.Event()
        low_water = max(1, min(self.options.batch, self.options.concurrency // 4))
        settled = asyncio.Event()
        settled.set()

        async def send(claimed: Claimed) -> None:
            nonlocal inflight
            channel = claimed.channel_id
            waiting = [True]

            def passed() -> None:  # this send no longer waits for its turn
                if waiting[0]:
                    waiting[0] = False
                    self._queued[channel] = self._queued.get(channel, 1) - 1

            try:
                pacer = self._pacers.get(channel)
                if pacer is None:
                    passed()
                elif claimed.message.kind == "email":  # SMTP: no hook at the wire; turn here
                    try:
                        await pacer.turn()
                    finally:
                        passed()
                else:  # HTTP: the transport takes the turn once it holds a connection
                    GATE.set(Gate(pacer, passed))
                try:
                    outcome = await send_one(adapters.get(channel), claimed)
                finally:
                    passed()
                self._note_pause(channel, outcome)
            finally:
                inflight -= 1
                slot_free.set()
            await results.put((claimed, outcome))

        async def recorder() -> None:
            nonlocal unrecorded
            while True:
                item = await results.get()
                if item is None:
                    return
                batch = [item]
                # while sends are still in flight, linger a moment for their answers: one
                # transaction for several outcomes costs a fraction of one each
                linger_until = time.monotonic() + self.options.record_linger
                while len(batch) < self.options.record_batch:
                    if results.empty():
                        left = linger_until - time.monotonic()
                        if inflight == 0 or left <= 0:
                            break
                        try:
                            nxt = await asyncio.wait_for(results.get(), timeout=left)
                        except TimeoutError:
                            break
                    else:
                        nxt = results.get_nowait()
                    if nxt is None:
                        results.put_nowait(None)
                        break
                    batch.append(nxt)
                await self._record(batch)
                unrecorded -= len(batch)
                if unrecorded == 0:
                    settled.set()

        # SQLite: the engine opens a connection per transaction, and closing the last one
        # checkpoints the WAL every time; one idle connection kept open avoids that.
        keeper = self.app.db.engine.connect() if self.app.db.is_sqlite else None
        await asyncio.to_thread(self._heartbeat, True)
        record_task = asyncio.create_task(recorder(), name="recorder")
        side_task = asyncio.create_task(self._side_jobs(), name="periodic")
        tasks: set[asyncio.Task[None]] = set()
        try:
            while not self._stopping.is_set():
                free = self.options.concurrency - inflight
                if free < low_water and inflight:
                    # claim in useful batches: wait (briefly) for more sends to finish
                    slot_free.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(
                            _first(slot_free.wait(), self._stopping.wait()),
                            timeout=0.02 if free else None,
                        )
                    if self.options.concurrency - inflight < low_water and free == 0:
                        continue
                    free = self.options.concurrency - inflight
                    if free <= 0:
                        continue
                found = await asyncio.to_thread(self._locked, self._claim_round, adapters, free)
                for claimed in found.claimed:
                    self._queued[claimed.channel_id] = self._queued.get(claimed.channel_id, 0) + 1
                    inflight += 1
                    unrecorded += 1
                    settled.clear()
                    task = asyncio.create_task(send(claimed))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                self.stats.claimed += len(found.claimed)
                if found.claimed:
                    continue
                if self.options.until_idle and not found.waiting:
                    # nothing claimable now: done once what is in flight has been recorded
                    # (a recorded template may release its content message)
                    await _first(settled.wait(), self._stopping.wait())
                    if self._stopping.is_set() or await asyncio.to_thread(nothing_due, self.app):
                        break
                    if found.elsewhere:  # another worker sends what is due: wait for it
                        await self._sleep(found.wake_in)
                    continue
                await self._sleep(found.wake_in)
        finally:
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            await results.put(None)
            await record_task
            side_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await side_task
            if own_http:
                await http.aclose()
            await _logged(self._senders.release_all)
            await _logged(self._heartbeat, False)
            if keeper is not None:
                keeper.close()
        return self.stats

    async def _sleep(self, seconds: float | None) -> None:
        assert self._stopping is not None
        delay = self.options.poll_interval if seconds is None else seconds
        delay = max(MIN_SLEEP, min(delay, self.options.poll_interval))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=delay)

    def _locked(self, fn: Callable[..., T], *args: Any) -> T:
        """SQLite has one writer: claiming and recording take turns here instead of
        sleeping in SQLite's busy handler; PostgreSQL runs them side by side."""
        if self._db_turn is None:
            return fn(*args)
        with self._db_turn:
            return fn(*args)

    def _claim_round(self, adapters: AdapterCache, free: int) -> _Round:
        """Ask each sendable channel for due messages (runs in a thread)."""
        found = _Round()
        if free <= 0:
            found.waiting = True
            return found
        mono = time.monotonic()
        if self.options.until_idle or mono >= self._channels_until:
            # read at most once a second while running (a claim checks its channel again)
            self._channels = sendable_channels(self.app)
            self._channels_until = mono + CHANNELS_TTL
        channels, resumes_at = self._channels
        if resumes_at is not None:
            found.wake_in = max(0.0, (resumes_at - self.app.clock.now()).total_seconds())
        mono = time.monotonic()
        self._rotation += 1
        if channels:
            shift = self._rotation % len(channels)
            channels = channels[shift:] + channels[:shift]
        for channel_id in channels:
            room = min(self.options.batch, free - len(found.claimed))
            if room <= 0:
                found.waiting = True
                break
            if self._paused_until.get(channel_id, 0.0) > mono:
                continue
            if self._idle_until.get(channel_id, 0.0) > mono and not self.options.until_idle:
                continue
            if not self._senders.holds(channel_id):  # another worker sends it now
                found.elsewhere = True
                found.wake_in = _earliest(found.wake_in, self._senders.retry_in(channel_id))
                continue
            pacer = self._pacers.get(channel_id)
            if pacer is not None:  # no more claimed ahead than the pace sends in pace_ahead
                ahead = max(1, math.ceil(pacer.rate * self.options.pace_ahead))
                room = min(room, ahead - self._queued.get(channel_id, 0))
                if room <= 0:
                    found.waiting = True
                    found.wake_in = _earliest(found.wake_in, pacer.interval * max(1, ahead // 2))
                    continue
            token_at = self._token_at.get(channel_id, 0.0)
            if token_at > mono:  # the bucket said when its next batch of slots is free
                found.waiting = True
                found.wake_in = _earliest(found.wake_in, token_at - mono)
                continue
            result = claim_channel(
                self.app,
                self.worker_id,
                channel_id,
                limit=room,
                lease=self.options.lease,
                rotate=self._rotation,
                lookahead=self.options.pace_ahead,
            )
            if result.rate > 0:
                if pacer is None:
                    self._pacers[channel_id] = Pacer(result.rate, result.burst)
                else:
                    pacer.update(result.rate, result.burst)
            if result.claimed:
                self._idle_until.pop(channel_id, None)
                self._refresh_adapter(adapters, channel_id, mono)
                found.claimed += result.claimed
            if result.idle:
                self._idle_until[channel_id] = mono + self.options.poll_interval
            if result.busy:
                found.waiting = True
                found.wake_in = _earliest(found.wake_in, BUSY_RETRY)
            if result.wait is not None:
                found.waiting = True
                found.wake_in = _earliest(found.wake_in, result.wait)
                # no claim transaction on this channel before then (others' claims only
                # push the bucket further, so asking earlier would find nothing)
                self._token_at[channel_id] = mono + result.wait
        return found

    def _note_pause(self, channel_id: int, outcome: SendOutcome) -> None:
        """Stop claiming on the channel at once, before the pause reaches the database."""
        seconds = None
        if isinstance(outcome, Retry) and outcome.after is not None and outcome.channel_wide:
            seconds = outcome.after
        elif isinstance(outcome, Disconnected):
            seconds = LOCAL_DISCONNECT_PAUSE
        if seconds:
            until = time.monotonic() + seconds
            self._paused_until[channel_id] = max(self._paused_until.get(channel_id, 0.0), until)

    def _refresh_adapter(self, adapters: AdapterCache, channel_id: int, mono: float) -> None:
        if mono - self._adapters_at.get(channel_id, -ADAPTER_TTL) >= ADAPTER_TTL:
            adapters.refresh(self.app, [channel_id])
            self._adapters_at[channel_id] = mono

    async def _record(self, batch: list[tuple[Claimed, SendOutcome]]) -> None:
        """Record a batch; a database hiccup is retried while the leases last. After that
        the messages are left to lease recovery (``uncertain``): never sent twice."""
        deadline = time.monotonic() + self.options.lease.total_seconds()
        attempt = 0
        while True:
            attempt += 1
            try:
                await asyncio.to_thread(self._locked, record_outcomes, self.app, batch)
                break
            except Exception:  # noqa: BLE001 - keep the results and try again
                log.exception("recording %d outcome(s) failed (attempt %d)", len(batch), attempt)
                if time.monotonic() >= deadline:
                    log.error("giving up on %d outcome(s): they will become uncertain", len(batch))
                    return
                await asyncio.sleep(min(5.0, 0.2 * attempt))
        for claimed, outcome in batch:
            self.stats.count(outcome)
            if self._on_outcome is not None:
                self._on_outcome(claimed, outcome)

    async def _side_jobs(self) -> None:
        """Heartbeat and the periodic jobs, each at its own interval; failures are logged."""
        next_run: dict[str, float] = {}
        next_beat = time.monotonic() + HEARTBEAT_EVERY
        while True:
            now = time.monotonic()
            if now >= next_beat:
                next_beat = now + HEARTBEAT_EVERY
                await _logged(self._heartbeat, True)
            if self.options.run_periodic_jobs:
                for job in list(periodic.PERIODIC_JOBS):
                    if now >= next_run.get(job.name, 0.0):
                        next_run[job.name] = now + job.interval_seconds
                        await _logged(job.run, self.app)
            await asyncio.sleep(0.5)

    def _heartbeat(self, alive: bool) -> None:
        now = self.app.clock.now()
        with self.app.db.transaction() as session:
            if not alive:
                session.execute(
                    delete(WorkerHeartbeat).where(WorkerHeartbeat.worker_id == self.worker_id)
                )
                return
            known = session.scalar(
                select(WorkerHeartbeat.worker_id).where(WorkerHeartbeat.worker_id == self.worker_id)
            )
            if known:
                session.execute(
                    update(WorkerHeartbeat)
                    .where(WorkerHeartbeat.worker_id == self.worker_id)
                    .values(heartbeat_at=now)
                )
            else:
                session.add(
                    WorkerHeartbeat(
                        worker_id=self.worker_id,
                        hostname=socket.gethostname(),
                        pid=os.getpid(),
                        started_at=now,
                        heartbeat_at=now,
                    )
                )


async def _logged(fn: Callable[..., object], *args: object) -> None:
    try:
        await asyncio.to_thread(fn, *args)
    except Exception:  # noqa: BLE001 - a periodic job never stops the dispatcher
        log.exception("periodic job %s failed", getattr(fn, "__name__", fn))


def _earliest(a: float | None, b: float) -> float:
    return b if a is None else min(a, b)


async def _first(*waits: Coroutine[Any, Any, Any]) -> None:
    """Wait until the first of these finishes; cancel the others."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


def _http_client(options: WorkerOptions) -> httpx.AsyncClient:
    kwargs: dict[str, object] = {"limit": options.concurrency}
    if options.http_timeout is not None:
        kwargs["timeout"] = httpx.Timeout(options.http_timeout)
    return new_http_client(DispatchClient, **kwargs)
