"""A campaign's controls (pause, resume, cancel) and the periodic check that finishes
it; every move goes through the lifecycle of :mod:`hde_core.domain.campaigns`."""

from __future__ import annotations

from sqlalchemy import select, update

from hde_core.bootstrap import App
from hde_core.db.models import (
    Campaign,
    Message,
)
from hde_core.domain.campaigns import CampaignStatus, can_move
from hde_core.domain.roles import Permission
from hde_core.domain.statuses import MessageStatus
from hde_core.errors import Refused
from hde_core.services import audit
from hde_core.services.audit import insert_audit_rows
from hde_core.services.authz import authorize
from hde_core.services.campaigns.report import CampaignReport, by_key, campaign_report

S = MessageStatus


#: Why a control is refused, per wanted status — the message says what is possible.
_REFUSAL = {
    CampaignStatus.PAUSED: "campaigns.error.cannot_pause",
    CampaignStatus.RUNNING: "campaigns.error.cannot_resume",
    CampaignStatus.CANCELLED: "campaigns.error.cannot_cancel",
}


def _move(campaign: Campaign, new: CampaignStatus) -> bool:
    """Move ``campaign`` to ``new`` if the lifecycle allows it; False when it is there
    already (a repeated click changes nothing); :class:`Refused` for an illegal move."""
    current = CampaignStatus(campaign.status)
    if current == new:
        return False
    if not can_move(current, new):
        reason = (
            "campaigns.error.cannot_pause_launching"
            if current == CampaignStatus.LAUNCHING and new == CampaignStatus.PAUSED
            else _REFUSAL[new]
        )
        raise Refused([], reason, key=campaign.key, status=current.value)
    campaign.status = new
    return True


def _set_status(app: App, key: str, actor: str, new: CampaignStatus) -> None:
    with app.db.transaction() as session:
        campaign = by_key(session, key)
        if not _move(campaign, new):
            return
        campaign.updated_at = app.clock.now()
        event = {
            CampaignStatus.PAUSED: audit.Event.CAMPAIGN_PAUSED,
            CampaignStatus.RUNNING: audit.Event.CAMPAIGN_RESUMED,
        }[new]
        audit.record(session, event, actor, at=app.clock.now(), campaign_id=campaign.id, key=key)


def pause(app: App, key: str, actor: str) -> CampaignReport:
    """No new message of the campaign is claimed; those being sent finish."""
    authorize(app, actor, Permission.BULK_SEND)
    _set_status(app, key, actor, CampaignStatus.PAUSED)
    return campaign_report(app, key)


def resume(app: App, key: str, actor: str) -> CampaignReport:
    authorize(app, actor, Permission.BULK_SEND)
    _set_status(app, key, actor, CampaignStatus.RUNNING)
    return campaign_report(app, key)


def cancel(app: App, key: str, actor: str) -> CampaignReport:
    """Unsent messages (queued, retrying, held) stay unsent for good: ``cancelled``. A
    launch in progress stops at its next chunk (its transaction sees the cancellation)."""
    authorize(app, actor, Permission.BULK_SEND)
    now = app.clock.now()
    with app.db.transaction() as session:
        campaign = by_key(session, key)
        if not _move(campaign, CampaignStatus.CANCELLED):
            return campaign_report(app, key)
        campaign.updated_at = now
        rows = session.execute(
            update(Message)
            .where(
                Message.campaign_id == campaign.id,
                Message.status.in_([S.QUEUED.value, S.RETRYING.value, S.HELD.value]),
            )
            .values(status=S.CANCELLED.value, updated_at=now, next_attempt_at=None)
            .returning(Message.id, Message.ticket_id, Message.channel_id)
            .execution_options(synchronize_session=False)
        ).all()
        insert_audit_rows(
            session,
            [
                audit.event_row(
                    audit.Event.MESSAGE_CANCELLED,
                    actor,
                    now,
                    ticket_id=tid,
                    message_id=mid,
                    campaign_id=campaign.id,
                    channel_id=cid,
                    data={},
                )
                for mid, tid, cid in rows
            ],
        )
        audit.record(
            session,
            audit.Event.CAMPAIGN_CANCELLED,
            actor,
            at=now,
            campaign_id=campaign.id,
            key=key,
            cancelled_messages=len(rows),
        )
    report = campaign_report(app, key)
    report.cancelled_now = len(rows)
    return report


def finish_campaigns(app: App) -> int:
    """Running campaigns with nothing left to send or wait for become ``done`` (periodic)."""
    open_statuses = [
        S.QUEUED.value,
        S.RETRYING.value,
        S.SENDING.value,
        S.HELD.value,
        S.UNCERTAIN.value,
    ]
    with app.db.transaction() as session:
        still = select(Message.id).where(
            Message.campaign_id == Campaign.id, Message.status.in_(open_statuses)
        )
        result = session.execute(
            update(Campaign)
            .where(Campaign.status == CampaignStatus.RUNNING, ~still.exists())
            .values(status=CampaignStatus.DONE, updated_at=app.clock.now())
            .execution_options(synchronize_session=False)
        )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
