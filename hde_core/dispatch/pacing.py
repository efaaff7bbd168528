"""The last gate before a send leaves: a channel's pace on this worker's own clock.

The shared token bucket (:mod:`hde_core.dispatch.ratelimit`) decides how many messages a
worker may *claim*; it cannot decide when each one reaches the provider: a claim takes
up to ``--pace-ahead`` seconds of tokens, and a loaded machine delays a worker by tens of
milliseconds at random moments. Send times fixed in advance ("slots") therefore bunch up
whenever their worker is late, and three workers late at different moments crowd one
second at the provider above ``rate + burst`` (issue 14.2).

So a channel has one sender at a time (:mod:`hde_core.dispatch.senders`) and that worker
releases each send through a :class:`Pacer` at the moment it is made: a GCRA (the token
bucket as a "theoretical arrival time") on the event loop's monotonic clock. Its
tolerance ``tau`` lets a worker catch up on a short delay; a longer one is simply lost,
never turned into a burst. :func:`pacing` picks the emission interval and ``tau`` so
that even when every send leaves up to :data:`STALL` after its turn, no one-second window
holds more than ``floor(rate + burst)`` messages:

    most sends in any window of L seconds = floor((L + tau) / interval) + 1, with
    L = 1 s + STALL  ⇒  interval = 1 / rate and tau = (rate + burst) / rate − 1 − STALL.

With a small burst (80/s, burst 1) that leaves no tolerance at the full rate, so the pace
drops to ``ceiling / (1 + STALL + TAU_MIN)`` (79.8/s there, 99.75 %) to keep
:data:`TAU_MIN` of it: the ceiling is a promise, the last percent of rate is not.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Callable
from contextvars import ContextVar

#: Longest delay planned for between a send's turn and its bytes leaving the machine. The
#: turn is taken in the same step as the write (:class:`Gate`), so only the operating system
#: pausing the process inside that step is left; a few milliseconds of margin.
STALL = 0.005
#: The least catch-up tolerance a pace keeps (see :func:`pacing`).
TAU_MIN = 0.010
#: Float noise kept off the ceiling (a window exactly at it must stay within it).
_EPS = 1e-6


def ceiling(rate: float, burst: int) -> int:
    """Most messages any one-second window may hold at the provider: ``rate + burst``."""
    return max(1, math.floor(rate + burst + 1e-9))


def pacing(rate: float, burst: int) -> tuple[float, float]:
    """``(interval, tau)`` of the channel's GCRA: see the module's docstring."""
    if rate <= 0:
        return 0.0, math.inf
    most = ceiling(rate, burst)
    tau = most / rate - 1 - STALL - _EPS
    if tau >= TAU_MIN:
        return 1 / rate, tau
    paced = most / (1 + STALL + TAU_MIN) * (1 - _EPS)
    return 1 / paced, TAU_MIN


def most_in_window(interval: float, tau: float, seconds: float) -> int:
    """The most turns a pacer gives in any window of ``seconds`` (GCRA's bound)."""
    if interval <= 0:
        return math.inf  # type: ignore[return-value]
    return math.floor((seconds + tau) / interval) + 1


class Pacer:
    """One channel's pace on this worker: :meth:`turn` returns when a send may go now.

    Waiting sends queue in order and one timer wakes the first of them, which takes its
    turn when it runs — right before its write — so a hundred claimed messages cost one
    wake-up per send, and the moment counted is the moment the bytes leave.
    """

    def __init__(self, rate: float, burst: int) -> None:
        self.interval, self.tau = pacing(rate, burst)
        self.rate, self.burst = rate, burst
        self._tat = -math.inf  # theoretical arrival time of the next send
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._timer: asyncio.TimerHandle | None = None

    def update(self, rate: float, burst: int) -> None:
        """The channel's limits changed (read again at a claim)."""
        if (rate, burst) != (self.rate, self.burst):
            self.interval, self.tau = pacing(rate, burst)
            self.rate, self.burst = rate, burst

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    async def turn(self) -> None:
        """Return when this send may go: the turn is taken when this task runs again, so
        the caller's write that follows (in the same step) is what the pace counts."""
        loop = asyncio.get_running_loop()
        if not self._waiters and self._take(loop.time()):
            return
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiters.append(waiter)
        self._arm(loop)
        try:
            while True:
                await waiter
                if self._take(loop.time()):
                    return
                waiter = loop.create_future()  # another send took it: first in line again
                self._waiters.appendleft(waiter)
                self._arm(loop)
        finally:
            self._arm(loop)  # the next in line

    def _take(self, now: float) -> bool:
        if now < self._tat - self.tau:
            return False
        self._tat = max(self._tat, now) + self.interval
        return True

    def _release(self) -> None:
        """Wake the first send in line (it takes its turn itself when it runs)."""
        self._timer = None
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():  # else its send was cancelled (the worker is stopping)
                waiter.set_result(None)
                return

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._waiters and self._timer is None:
            self._timer = loop.call_at(self._tat - self.tau, self._release)


class Gate:
    """One send's turn at its channel's pace, taken where the request is about to leave:
    the HTTP client takes it once it holds a connection (:mod:`hde_core.dispatch.transport`),
    so neither opening a connection nor the adapter's own work delays a send after its
    turn. Taken once, however many requests the send makes."""

    __slots__ = ("_on_pass", "_pacer", "passed")

    def __init__(self, pacer: Pacer, on_pass: Callable[[], None]) -> None:
        self._pacer = pacer
        self._on_pass = on_pass
        self.passed = False

    async def wait(self) -> None:
        if self.passed:
            return
        await self._pacer.turn()
        self.passed = True
        self._on_pass()


#: The gate of the send running in this task (set by the worker, taken by the transport).
GATE: ContextVar[Gate | None] = ContextVar("hde_send_gate", default=None)
