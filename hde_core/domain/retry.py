"""Retry policy: exponential backoff with full jitter, capped (SPEC §3)."""

from __future__ import annotations

import random
from dataclasses import dataclass

#: Attempts before a message fails for good, unless its channel is set otherwise (SPEC §3).
#: The one place the number lives: schema default, provisioning, settings and console read it.
MAX_ATTEMPTS = 8


@dataclass(frozen=True)
class RetryPolicy:
    base_seconds: float = 5.0
    cap_seconds: float = 15 * 60.0
    max_attempts: int = MAX_ATTEMPTS

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before attempt ``attempt + 1``: ``base * 2**(attempt-1)`` capped,
        with full jitter so that many workers do not retry in lock-step. (A provider's own
        ``retry_after`` is not a backoff: the dispatcher pauses the channel for it.)"""
        ceiling = min(self.cap_seconds, self.base_seconds * (2 ** max(0, attempt - 1)))
        r = rng or random
        return self.base_seconds / 2 + r.random() * max(0.0, ceiling - self.base_seconds / 2)

    def exhausted(self, attempts: int) -> bool:
        return attempts >= self.max_attempts
