"""The dispatcher's options and counters (:mod:`hde_core.dispatch.worker`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from hde_core.dispatch.claim import DEFAULT_LEASE
from hde_core.domain.outcomes import Fail, Hold, Retry, SendOutcome, Sent

__all__ = ["WorkerOptions", "WorkerStats"]


@dataclass
class WorkerOptions:
    #: Sends in flight at once.
    concurrency: int = 100
    #: Most messages claimed in one transaction.
    batch: int = 100
    lease: timedelta = DEFAULT_LEASE
    #: Seconds between looks at a channel that had nothing due.
    poll_interval: float = 0.5
    #: HTTP timeout of provider calls (None: the adapters' default).
    http_timeout: float | None = None
    #: Return when nothing is due now and nothing is in flight (``hde send --wait``).
    until_idle: bool = False
    run_periodic_jobs: bool = True
    #: Outcomes recorded per transaction at most.
    record_batch: int = 500
    #: Seconds the recorder waits for more outcomes while sends are in flight (a paced
    #: channel's answers come one by one; recording each alone costs CPU per message).
    record_linger: float = 0.5
    #: Seconds of a channel's rate claimed ahead; each message then waits for its turn at
    #: the channel's pace (:mod:`hde_core.dispatch.pacing`), so the rate depends neither on
    #: the claim cycle nor on the provider's answer time (issue 14.2). 0: claim only the
    #: tokens the shared bucket holds now (the plain token bucket).
    pace_ahead: float = 1.0


@dataclass
class WorkerStats:
    claimed: int = 0
    sent: int = 0
    retrying: int = 0
    held: int = 0
    failed: int = 0
    disconnected: int = 0

    def count(self, outcome: SendOutcome) -> None:
        if isinstance(outcome, Sent):
            self.sent += 1
        elif isinstance(outcome, Retry):
            self.retrying += 1
        elif isinstance(outcome, Hold):
            self.held += 1
        elif isinstance(outcome, Fail):
            self.failed += 1
        else:
            self.disconnected += 1
