"""Who answers a client, and where a ticket stands (issue 17.5; SPEC §9).

A campaign's replies go to its owner (the user who launched it: the default) or are
shared round-robin among the department's agents — campaign option ``reply_assignment``
(``owner`` | ``round_robin``). Round-robin gives the ticket to the agent after the one who
got the campaign's previous reply (agents of the ticket's department, else every active
agent), so no counter needs keeping. A person assigns and moves tickets through
:func:`assign` and :func:`set_status`: agents may take a ticket and move its status, a team
lead may give it to anyone.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hde_core.bootstrap import App
from hde_core.db.models import Campaign, Ticket, User
from hde_core.domain.roles import Permission, Role
from hde_core.domain.tickets import FieldError, TicketStatus, can_move
from hde_core.errors import NotFound, Refused
from hde_core.services import audit
from hde_core.services.authz import authorize


class ReplyAssignment(StrEnum):
    OWNER = "owner"
    ROUND_ROBIN = "round_robin"


#: The campaign option naming how its replies are assigned.
OPTION = "reply_assignment"


def reply_assignment(campaign: Campaign) -> ReplyAssignment:
    value = (campaign.options or {}).get(OPTION)
    try:
        return ReplyAssignment(value) if value else ReplyAssignment.OWNER
    except ValueError:
        return ReplyAssignment.OWNER


def _active(session: Session, login: str) -> User | None:
    return session.scalar(
        select(User).where(
            User.login == login, User.is_active.is_(True), User.role != Role.VIEWER.value
        )
    )


def _next_agent(session: Session, ticket: Ticket) -> User | None:
    agents = list(
        session.scalars(
            select(User)
            .where(
                User.is_active.is_(True),
                User.role == Role.AGENT.value,
                User.department_id == ticket.department_id,
            )
            .order_by(User.id)
        )
    )
    if not agents:
        agents = list(
            session.scalars(
                select(User)
                .where(User.is_active.is_(True), User.role == Role.AGENT.value)
                .order_by(User.id)
            )
        )
    if not agents:
        return None
    previous = session.scalar(
        select(Ticket.assignee_id)
        .where(
            Ticket.campaign_id == ticket.campaign_id,
            Ticket.id != ticket.id,
            Ticket.first_reply_at.is_not(None),
            Ticket.assignee_id.is_not(None),
        )
        .order_by(Ticket.first_reply_at.desc(), Ticket.id.desc())
        .limit(1)
    )
    ids = [a.id for a in agents]
    if previous in ids:
        return agents[(ids.index(previous) + 1) % len(agents)]
    return agents[0]


def assign_reply(session: Session, ticket: Ticket, at: datetime) -> User | None:
    """The client's first reply in a campaign's ticket: give the ticket to whoever answers
    the campaign's replies (in the webhook's transaction). None: nobody fits."""
    campaign = session.get(Campaign, ticket.campaign_id) if ticket.campaign_id else None
    if campaign is None:
        return None
    mode = reply_assignment(campaign)
    user = _active(session, campaign.created_by) if mode == ReplyAssignment.OWNER else None
    if user is None:
        user = _next_agent(session, ticket) if mode == ReplyAssignment.ROUND_ROBIN else None
    if user is None:
        return None
    ticket.assignee_id = user.id
    audit.record(
        session,
        audit.Event.TICKET_ASSIGNED,
        "system",
        at=at,
        ticket_id=ticket.id,
        campaign_id=campaign.id,
        assignee=user.login,
        rule=mode.value,
    )
    return user


def _ticket(session: Session, ticket_id: int) -> Ticket:
    ticket = session.get(Ticket, ticket_id, with_for_update=True)
    if ticket is None:
        raise NotFound("conversation.error.no_ticket", id=ticket_id)
    return ticket


def assign(app: App, actor: str, ticket_id: int, login: str | None) -> str | None:
    """Give the ticket to ``login`` (None: nobody). An agent may take a ticket himself or
    leave it; giving it to someone else needs a team lead. Returns the assignee's login."""
    now = app.clock.now()
    with app.db.transaction() as session:
        authorize(session, actor, Permission.REPLY_TICKET)
        ticket = _ticket(session, ticket_id)
        current = session.get(User, ticket.assignee_id) if ticket.assignee_id else None
        own = (login is None and current is not None and current.login == actor) or login == actor
        if not own:
            authorize(session, actor, Permission.ASSIGN_TICKETS)
        user = None
        if login is not None:
            user = _active(session, login)
            if user is None:
                raise Refused(
                    [FieldError("assignee", "not_found", {"name": login})],
                    "conversation.error.assign_refused",
                )
        if (user.id if user else None) == ticket.assignee_id:
            return login
        ticket.assignee_id = user.id if user else None
        ticket.updated_at = now
        audit.record(
            session,
            audit.Event.TICKET_ASSIGNED,
            actor,
            at=now,
            ticket_id=ticket.id,
            campaign_id=ticket.campaign_id,
            assignee=login or "-",
            previous=current.login if current else None,
        )
        return login


def set_status(app: App, actor: str, ticket_id: int, status: str) -> str:
    """Move the ticket (``domain.tickets.TICKET_MOVES``); a move it does not allow is refused
    with the statuses it may go to. Returns the new status."""
    now = app.clock.now()
    try:
        new = TicketStatus(status)
    except ValueError:
        raise Refused(
            [
                FieldError(
                    "status",
                    "invalid_choice",
                    {"choices": ", ".join(s.value for s in TicketStatus)},
                )
            ],
            "conversation.error.status_refused",
        ) from None
    with app.db.transaction() as session:
        authorize(session, actor, Permission.REPLY_TICKET)
        ticket = _ticket(session, ticket_id)
        if not can_move(ticket.status, new):
            raise Refused(
                [],
                "conversation.error.move_refused",
                current=ticket.status,
                new=new.value,
            )
        move_status(session, ticket, new, actor, now)
        return new.value


def move_status(
    session: Session, ticket: Ticket, new: TicketStatus, actor: str, now: datetime
) -> None:
    """Put the ticket in ``new`` and say so in the audit trail (nothing when it is there)."""
    previous = ticket.status
    if previous == new:
        return
    ticket.status = new.value
    ticket.updated_at = now
    audit.record(
        session,
        audit.Event.TICKET_STATUS_CHANGED,
        actor,
        at=now,
        ticket_id=ticket.id,
        campaign_id=ticket.campaign_id,
        previous=previous,
        status=new.value,
    )


def set_reply_assignment(app: App, actor: str, campaign_key: str, mode: str) -> str:
    """Decide who answers a campaign's replies (a team lead's setting)."""
    try:
        chosen = ReplyAssignment(mode)
    except ValueError:
        raise Refused(
            [
                FieldError(
                    OPTION,
                    "invalid_choice",
                    {"choices": ", ".join(m.value for m in ReplyAssignment)},
                )
            ],
            "conversation.error.assignment_refused",
        ) from None
    with app.db.transaction() as session:
        authorize(session, actor, Permission.ASSIGN_TICKETS)
        campaign = session.scalar(
            select(Campaign).where(Campaign.key == campaign_key).with_for_update()
        )
        if campaign is None:
            raise NotFound("conversation.error.no_campaign", key=campaign_key)
        if reply_assignment(campaign) != chosen:
            campaign.options = {**(campaign.options or {}), OPTION: chosen.value}
            audit.record(
                session,
                audit.Event.SETTINGS_CHANGED,
                actor,
                at=app.clock.now(),
                campaign_id=campaign.id,
                setting=OPTION,
                value=chosen.value,
            )
        return chosen.value


def waiting_for(app: App, login: str) -> int:
    """How many tickets wait for this user's answer (the client replied, the ticket is his)."""
    with app.db.reader() as session:
        return (
            session.scalar(
                select(func.count())
                .select_from(Ticket)
                .join(User, User.id == Ticket.assignee_id)
                .where(User.login == login, Ticket.status == TicketStatus.REPLIED.value)
            )
            or 0
        )
