"""R10: starting conversations on an unofficial ("gray") WhatsApp channel.

WhatsApp may ban a number for good when it writes first to people, so a team lead
must enable initiation on such a channel **and** acknowledge that risk; who did it
and when are stored on the channel (``risk_ack_by``, ``risk_ack_at``, shown in the
console) and in the audit trail. Until then every ticket on the channel is refused
with ``initiation_disabled`` (:func:`hde_core.domain.eligibility.evaluate`).

Disabling keeps the last acknowledgement on the channel for reference; enabling
again needs a fresh one.

A console user acting needs the ``channel_settings`` permission (team lead, admin);
the command line acts as the operator named by ``--actor`` (like provisioning).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from hde_core.bootstrap import App
from hde_core.db.models import Channel
from hde_core.domain.channels import ChannelKind
from hde_core.domain.roles import Permission
from hde_core.errors import HdeError, UsageError
from hde_core.services import audit
from hde_core.services.authz import authorize
from hde_core.services.channels import channel_by_name


class RiskNotAcknowledged(HdeError):
    """Enabling initiation without accepting the ban risk (the work was refused: exit 1)."""

    key = "channels.initiation.risk_ack_required"
    exit_code = 1


@dataclass(frozen=True)
class InitiationState:
    channel: str
    enabled: bool
    risk_ack_by: str | None
    risk_ack_at: datetime | None

    @property
    def allowed(self) -> bool:
        """What eligibility sees: enabled and acknowledged."""
        return self.enabled and self.risk_ack_at is not None


def set_initiation(
    app: App, channel_name: str, enabled: bool, actor: str, acknowledge_risk: bool = False
) -> InitiationState:
    now = app.clock.now()
    with app.db.transaction() as session:
        # Only a person acknowledges the risk: their name stands behind it.
        authorize(session, actor, Permission.CHANNEL_SETTINGS, system_allowed=not enabled)
        channel = channel_by_name(session, channel_name)
        if channel.kind != ChannelKind.WHATSAPP.value:
            raise UsageError(
                "channels.initiation.not_applicable", name=channel.name, kind=channel.kind
            )
        if enabled and not acknowledge_risk:
            raise RiskNotAcknowledged(name=channel.name)
        channel.initiation_enabled = enabled
        if enabled:
            channel.risk_ack_by = actor
            channel.risk_ack_at = now
        channel.updated_at = now
        audit.record(
            session,
            audit.Event.SETTINGS_CHANGED,
            actor,
            at=now,
            channel_id=channel.id,
            setting="initiation",
            enabled=enabled,
            risk_acknowledged=True if enabled else None,
        )
        return _state(channel)


def initiation_state(app: App, channel_name: str) -> InitiationState:
    with app.db.reader() as session:
        return _state(channel_by_name(session, channel_name))


def _state(channel: Channel) -> InitiationState:
    return InitiationState(
        channel.name, channel.initiation_enabled, channel.risk_ack_by, channel.risk_ack_at
    )
