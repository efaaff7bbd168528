"""The campaign lifecycle: allowed moves, refused moves, the derived shown statuses."""

from datetime import UTC, datetime, timedelta

import pytest

from hde_core.domain.campaigns import (
    LAUNCH_STALE,
    TRANSITIONS,
    CampaignStatus,
    IllegalMove,
    ShownStatus,
    can_move,
    check_move,
    shown_status,
)

C = CampaignStatus
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("current", "new", "allowed"),
    [
        (C.LAUNCHING, C.RUNNING, True),  # every message written
        (C.LAUNCHING, C.CANCELLED, True),  # an interrupted launch can be given up
        (C.LAUNCHING, C.DONE, False),  # never done before its messages exist (issue 14.1)
        (C.LAUNCHING, C.PAUSED, False),
        (C.RUNNING, C.PAUSED, True),
        (C.RUNNING, C.DONE, True),
        (C.RUNNING, C.LAUNCHING, True),  # launched again: adds the missing rows
        (C.PAUSED, C.RUNNING, True),
        (C.PAUSED, C.DONE, False),
        (C.PAUSED, C.CANCELLED, True),
        (C.DONE, C.LAUNCHING, True),
        (C.DONE, C.CANCELLED, False),
        (C.DONE, C.RUNNING, False),
        (C.CANCELLED, C.RUNNING, False),
        (C.CANCELLED, C.LAUNCHING, False),
    ],
)
def test_moves(current, new, allowed):
    assert can_move(current, new) is allowed
    assert can_move(current.value, new.value) is allowed  # as stored in the database
    if allowed:
        check_move(current, new)
    else:
        with pytest.raises(IllegalMove) as err:
            check_move(current, new)
        assert (err.value.current, err.value.new) == (current, new)


def test_every_status_has_its_moves_and_cancelled_is_final():
    assert set(TRANSITIONS) == set(CampaignStatus)
    assert TRANSITIONS[C.CANCELLED] == frozenset()
    assert all(C.DONE not in TRANSITIONS[s] for s in C if s != C.RUNNING)


def test_unknown_status_is_refused():
    with pytest.raises(ValueError):
        can_move("scheduled", C.RUNNING)  # shown only, never stored


@pytest.mark.parametrize(
    ("status", "scheduled_at", "heartbeat", "shown"),
    [
        (C.RUNNING, None, None, ShownStatus.RUNNING),
        (C.RUNNING, NOW + timedelta(days=1), None, ShownStatus.SCHEDULED),
        (C.RUNNING, NOW - timedelta(minutes=1), None, ShownStatus.RUNNING),
        (C.PAUSED, NOW + timedelta(days=1), None, ShownStatus.PAUSED),
        (C.LAUNCHING, None, NOW - timedelta(seconds=5), ShownStatus.LAUNCHING),
        (C.LAUNCHING, NOW + timedelta(days=1), NOW, ShownStatus.LAUNCHING),
        (C.LAUNCHING, None, NOW - LAUNCH_STALE - timedelta(seconds=1), ShownStatus.INTERRUPTED),
        (C.LAUNCHING, None, None, ShownStatus.INTERRUPTED),
        (C.DONE, None, None, ShownStatus.DONE),
        (C.CANCELLED, None, None, ShownStatus.CANCELLED),
    ],
)
def test_shown_status(status, scheduled_at, heartbeat, shown):
    assert shown_status(status, scheduled_at, heartbeat, NOW) == shown
