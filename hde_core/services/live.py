"""When a live view refreshes itself, and when it stops (issue 16.5).

A view (the bulk run's progress, a campaign, the overview, the windows) is *live* while
something it shows can change by itself: messages waiting for the dispatcher, a launch
writing its rows, held messages a client's reply will release, windows counting down.
It refreshes at a pace that fits what it shows and stops when nothing is running, so an
idle console sends no timer at all.

The faces ask :func:`every` with the view and its :class:`Activity`; the activity comes
from the same figures the view shows (a campaign's counts) or from one cheap query.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum

from sqlalchemy import exists, or_, select

from hde_core.bootstrap import App
from hde_core.db.models import Campaign, ContactIdentity, Message, Ticket
from hde_core.domain.campaigns import CampaignStatus, ShownStatus
from hde_core.domain.statuses import MessageStatus
from hde_core.domain.tickets import TicketStatus
from hde_core.domain.window import WINDOW

S = MessageStatus

#: Messages the dispatcher still works on.
PENDING = (S.QUEUED.value, S.SENDING.value, S.RETRYING.value)


class Activity(StrEnum):
    #: Messages are being written or sent: figures change every second.
    SENDING = "sending"
    #: Only a client's reply (held messages), a start time or the periodic finishing
    #: check will change something: figures change now and then.
    WAITING = "waiting"
    #: Nothing changes by itself (done, cancelled, paused, or a person must act).
    IDLE = "idle"


class View(StrEnum):
    PROGRESS = "progress"
    #: A campaign's status, counts and controls (one grouped count).
    CAMPAIGN = "campaign"
    #: A campaign's charts and recipients (six queries over its rows).
    CAMPAIGN_DETAILS = "campaign_details"
    OVERVIEW = "overview"
    WINDOWS = "windows"


#: Seconds between refreshes per view: (while sending, while waiting). The more a refresh
#: asks the database, the calmer its pace: a refresh stays within a quarter to a third of
#: its pace on a million messages (``make bench BENCH_ARGS=dashboards``, "live refresh").
PACE: dict[View, tuple[float, float]] = {
    View.PROGRESS: (2.0, 5.0),
    View.CAMPAIGN: (3.0, 10.0),
    View.CAMPAIGN_DETAILS: (10.0, 30.0),
    View.OVERVIEW: (10.0, 30.0),
    View.WINDOWS: (30.0, 30.0),  # the countdown shows minutes
}


def every(view: View | str, activity: Activity) -> float | None:
    """Seconds until the view refreshes itself; ``None``: it does not (nothing running)."""
    sending, waiting = PACE[View(view)]
    if activity == Activity.SENDING:
        return sending
    if activity == Activity.WAITING:
        return waiting
    return None


def campaign_activity(
    status: str,
    counts: Mapping[str, int],
    launching: bool = False,
    awaiting_replies: bool = False,
) -> Activity:
    """What can still change by itself in a campaign shown as ``status`` (its
    :class:`ShownStatus`) with ``counts`` messages per status.

    A running campaign with nothing left open is still *waiting*: the dispatcher's periodic
    check is about to mark it done, and the view should show that. Messages of uncertain
    fate wait for a person (a team lead's resend), so they alone keep nothing live.
    A finished campaign still *waits* while clients it wrote to may answer
    (``awaiting_replies``, :func:`awaiting_replies`): a reply moves its reply rate.
    """
    if launching or status == ShownStatus.LAUNCHING:
        return Activity.SENDING
    if status == ShownStatus.DONE and awaiting_replies:
        return Activity.WAITING
    if status in (ShownStatus.DONE, ShownStatus.CANCELLED, ShownStatus.PAUSED):
        return Activity.IDLE
    if status == ShownStatus.INTERRUPTED:
        return Activity.IDLE  # its launch died: a person launches it again or cancels it
    if any(counts.get(s, 0) for s in PENDING):
        return Activity.SENDING
    if status == ShownStatus.SCHEDULED or counts.get(S.HELD.value, 0):
        return Activity.WAITING
    if counts.get(S.UNCERTAIN.value, 0):
        return Activity.IDLE
    return Activity.WAITING  # running, nothing open: about to become done


def awaiting_replies(app: App, campaign_id: int) -> bool:
    """Whether a client the campaign wrote to within the last 24 hours has not answered yet
    (their ticket still waits for them): their reply would change the campaign's reply rate."""
    since = app.clock.now() - WINDOW
    with app.db.reader() as session:
        found = session.scalar(
            select(
                exists().where(
                    Message.campaign_id == campaign_id,
                    Message.sent_at > since,
                    Ticket.id == Message.ticket_id,
                    Ticket.status == TicketStatus.WAITING.value,
                )
            )
        )
    return bool(found)


def campaigns_activity(statuses: Iterable[str]) -> Activity:
    """A list of campaigns (their shown statuses) is waiting while one of them can still
    change by itself: the list shows statuses, not counts, so it never needs the fast pace."""
    moving = {ShownStatus.LAUNCHING, ShownStatus.RUNNING, ShownStatus.SCHEDULED}
    return Activity.WAITING if any(s in moving for s in statuses) else Activity.IDLE


def activity(app: App) -> Activity:
    """The whole deployment, for the overview: sending while any message waits for the
    dispatcher or a campaign is launching; waiting while messages are held for replies."""
    with app.db.reader() as session:
        sending = session.scalar(
            select(
                or_(
                    exists().where(Message.status.in_(PENDING)),
                    exists().where(Campaign.status == CampaignStatus.LAUNCHING.value),
                )
            )
        )
        if sending:
            return Activity.SENDING
        waiting = session.scalar(
            select(
                or_(
                    exists().where(Message.status == S.HELD.value),
                    # scheduled, or about to be marked done by the periodic check
                    exists().where(Campaign.status == CampaignStatus.RUNNING.value),
                )
            )
        )
    return Activity.WAITING if waiting else Activity.IDLE


def windows_activity(app: App) -> Activity:
    """The windows page counts down while a window is open or a message is held."""
    since = app.clock.now() - WINDOW
    with app.db.reader() as session:
        live = session.scalar(
            select(
                or_(
                    exists().where(ContactIdentity.last_inbound_at > since),
                    exists().where(Message.status == S.HELD.value),
                )
            )
        )
    return Activity.WAITING if live else Activity.IDLE
