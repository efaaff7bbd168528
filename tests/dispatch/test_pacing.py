"""A channel's pace on its one sender (issue 14.2): the arithmetic that keeps every
one-second window within limit + burst, and the pacer that applies it at the wire."""

from __future__ import annotations

import asyncio
import time

import pytest

from hde_core.dispatch.pacing import STALL, Pacer, ceiling, most_in_window, pacing

CASES = [(80, 8), (80, 1), (200, 20), (30, 1), (2, 1), (0.5, 1), (10, 400), (10_000, 1_000)]


@pytest.mark.parametrize(("rate", "burst"), CASES)
def test_no_window_at_the_provider_can_exceed_limit_plus_burst(rate, burst):
    interval, tau = pacing(rate, burst)
    # every send leaves at most STALL after its turn: a window of 1 s at the provider
    # holds the turns of a window of 1 s + STALL
    assert most_in_window(interval, tau, 1.0 + STALL) <= ceiling(rate, burst)
    assert tau > 0  # some catch-up after a short delay is always kept


@pytest.mark.parametrize(("rate", "burst"), CASES)
def test_the_pace_keeps_at_least_98_percent_of_the_limit(rate, burst):
    interval, _ = pacing(rate, burst)
    assert 1 / interval >= 0.98 * rate
    if burst >= 8:  # room enough: the full rate
        assert 1 / interval == pytest.approx(rate)


def _turn_times(pacer: Pacer, sends: int, stall_after: int | None = None) -> list[float]:
    async def main() -> list[float]:
        loop = asyncio.get_running_loop()
        times: list[float] = []

        async def one(i: int) -> None:
            await pacer.turn()
            times.append(loop.time())
            if i == stall_after:
                time.sleep(0.3)  # the whole worker stalls (a loaded machine)

        await asyncio.gather(*(one(i) for i in range(sends)))
        return times

    return asyncio.run(main())


def _worst_window(times: list[float], seconds: float) -> int:
    times = sorted(times)
    worst, j = 0, 0
    for i, end in enumerate(times):
        while times[j] <= end - seconds:
            j += 1
        worst = max(worst, i - j + 1)
    return worst


def test_a_pacer_hands_out_turns_at_the_pace_and_a_stall_makes_no_burst():
    pacer = Pacer(rate=100, burst=5)
    times = _turn_times(pacer, 150, stall_after=40)
    assert len(times) == 150
    # after the 0.3 s stall it catches up by at most its tolerance, never the lost 30 turns
    assert _worst_window(times, 1.0) <= most_in_window(pacer.interval, pacer.tau, 1.0)
    assert _worst_window(times, 1.0) <= ceiling(100, 5)
    assert times[-1] - times[0] >= (150 - most_in_window(pacer.interval, pacer.tau, 0.0)) * (
        pacer.interval
    )  # really paced: no faster than the rate on average


def test_a_new_limit_applies_to_the_next_turns():
    pacer = Pacer(rate=1_000, burst=100)
    pacer.update(50, 1)
    interval, tau = pacing(50, 1)
    assert (pacer.interval, pacer.tau) == (interval, tau)
    times = _turn_times(pacer, 20)
    assert _worst_window(times, 0.2) <= most_in_window(interval, tau, 0.2)
