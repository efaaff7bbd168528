"""The campaign lifecycle (SPEC §4, §10): which status may follow which.

``launching`` — its messages are being written (``hde send``, the bulk wizard); the
dispatcher may already send those written, but the campaign cannot finish: a launch in
progress is a state of its own. ``running`` — every message is written (the launch is
complete); the dispatcher sends them when due. ``paused`` — nothing new is claimed.
``done`` — launch complete and every message final (set by the periodic check).
``cancelled`` — unsent messages stay unsent for good; final.

"scheduled" and "interrupted" are not stored: they are how a running or launching
campaign is *shown* (:func:`shown_status`), derived from its start time and the launch's
last sign of life.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum


class CampaignStatus(StrEnum):
    LAUNCHING = "launching"
    RUNNING = "running"
    PAUSED = "paused"
    CANCELLED = "cancelled"
    DONE = "done"


C = CampaignStatus

#: Allowed moves. A launch of an existing campaign (a relaunch adding missing rows) moves
#: ``running``/``done`` back to ``launching``; a paused campaign stays paused meanwhile.
TRANSITIONS: dict[CampaignStatus, frozenset[CampaignStatus]] = {
    # the launch completes (running), or the team lead stops it (cancelled); a launch
    # cannot be paused: it is finished or cancelled
    C.LAUNCHING: frozenset({C.RUNNING, C.CANCELLED}),
    C.RUNNING: frozenset({C.PAUSED, C.CANCELLED, C.DONE, C.LAUNCHING}),
    C.PAUSED: frozenset({C.RUNNING, C.CANCELLED}),
    C.DONE: frozenset({C.LAUNCHING}),
    C.CANCELLED: frozenset(),
}

#: Campaigns whose written messages the dispatcher may claim (when due).
SENDABLE = frozenset({C.LAUNCHING, C.RUNNING})

#: Campaigns a launch may (re)write messages into.
LAUNCHABLE = frozenset({C.LAUNCHING, C.RUNNING, C.PAUSED, C.DONE})

#: A launch writes a chunk (and shows it is alive) every second or so; silent for this
#: long, it is shown as interrupted (its process stopped): launch it again, or cancel.
LAUNCH_STALE = timedelta(minutes=2)


class IllegalMove(ValueError):
    """A campaign status change the lifecycle does not allow."""

    def __init__(self, current: CampaignStatus, new: CampaignStatus) -> None:
        super().__init__(f"campaign cannot move from {current.value} to {new.value}")
        self.current = current
        self.new = new


def can_move(current: CampaignStatus | str, new: CampaignStatus | str) -> bool:
    return CampaignStatus(new) in TRANSITIONS[CampaignStatus(current)]


def check_move(current: CampaignStatus | str, new: CampaignStatus | str) -> None:
    """Raise :class:`IllegalMove` unless ``current → new`` is allowed."""
    if not can_move(current, new):
        raise IllegalMove(CampaignStatus(current), CampaignStatus(new))


class ShownStatus(StrEnum):
    """What the console and the command line show: the stored status, or one of the two
    derived ones."""

    LAUNCHING = "launching"
    INTERRUPTED = "interrupted"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    PAUSED = "paused"
    CANCELLED = "cancelled"
    DONE = "done"


def shown_status(
    status: CampaignStatus | str,
    scheduled_at: datetime | None,
    launch_heartbeat_at: datetime | None,
    now: datetime,
) -> ShownStatus:
    """``scheduled``: running, with a start time still ahead. ``interrupted``: launching,
    but the launch has not written anything for :data:`LAUNCH_STALE` (its process died)."""
    status = CampaignStatus(status)
    if status == C.LAUNCHING and (
        launch_heartbeat_at is None or now - launch_heartbeat_at > LAUNCH_STALE
    ):
        return ShownStatus.INTERRUPTED
    if status == C.RUNNING and scheduled_at is not None and scheduled_at > now:
        return ShownStatus.SCHEDULED
    return ShownStatus(status.value)
