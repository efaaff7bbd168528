"""R10: initiation on an unofficial WhatsApp channel needs a team lead's risk acknowledgement."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from hde_core.db.models import AuditEvent, Channel
from hde_core.domain import events as ev
from hde_core.errors import PermissionDenied, Refused, UsageError
from hde_core.services.authz import SYSTEM
from hde_core.services.channel_settings import (
    RiskNotAcknowledged,
    initiation_state,
    set_initiation,
)
from hde_core.services.provision import provision
from hde_core.services.tickets import TicketRequest, create_ticket
from hde_core.services.users import add_user
from hde_core.services.webhooks import record_events
from tests.staff import seed_staff

CHANNELS = """
[[channels]]
name = "wa"
kind = "whatsapp"
api_base = "http://127.0.0.1:9/sim/greenapi"
credentials = { id_instance = "1", api_token = "t" }
webhook_secret = "s"

[[channels]]
name = "tg"
kind = "telegram"
credentials = { bot_token = "1:ABCDEFGHIJ" }
"""


@pytest.fixture
def wa(app, tmp_path, clock):
    path = tmp_path / "c.toml"
    path.write_text(CHANNELS, encoding="utf-8")
    provision(app, path, actor=SYSTEM)
    seed_staff(app)
    with app.db.reader() as s:
        channel_id = s.scalar(select(Channel.id).where(Channel.name == "wa"))
    record_events(app, channel_id, [ev.InboundMessage("+79123456789", "m1", clock.now(), "Hi")])
    return channel_id


def verdict(app):
    request = TicketRequest(channel="wa", to="+79123456789", subject="S", body="B")
    try:
        create_ticket(app, request, "agent")
    except Refused as exc:
        return [e.code for e in exc.errors]
    return ["eligible"]


def settings_audits(app):
    with app.db.reader() as s:
        return s.scalars(
            select(AuditEvent).where(AuditEvent.event == "settings_changed").order_by(AuditEvent.id)
        ).all()


def test_a_new_gray_channel_refuses_initiation(app, wa):
    assert verdict(app) == ["initiation_disabled"]
    assert not initiation_state(app, "wa").allowed


def test_enabling_without_the_risk_acknowledgement_changes_nothing(app, wa):
    with pytest.raises(RiskNotAcknowledged) as exc:
        set_initiation(app, "wa", True, "lead")
    assert exc.value.exit_code == 1
    assert "--acknowledge-risk" in exc.value.message("en")
    assert "навсегда" in exc.value.message("ru")
    state = initiation_state(app, "wa")
    assert (state.enabled, state.risk_ack_by, state.risk_ack_at) == (False, None, None)
    assert settings_audits(app) == []
    assert verdict(app) == ["initiation_disabled"]


def test_enabling_with_the_acknowledgement_stores_who_and_when(app, wa, clock):
    state = set_initiation(app, "wa", True, "lead", acknowledge_risk=True)
    assert (state.enabled, state.risk_ack_by, state.risk_ack_at) == (True, "lead", clock.now())
    (event,) = settings_audits(app)
    assert (event.actor, event.channel_id) == ("lead", wa)
    assert event.data == {"setting": "initiation", "enabled": True, "risk_acknowledged": True}
    assert verdict(app) == ["eligible"]


def test_disabling_refuses_again_and_keeps_the_last_acknowledgement(app, wa, clock):
    set_initiation(app, "wa", True, "lead", acknowledge_risk=True)
    clock.advance(minutes=5)
    state = set_initiation(app, "wa", False, "admin")
    assert (state.enabled, state.risk_ack_by) == (False, "lead")
    assert verdict(app) == ["initiation_disabled"]
    assert [a.data["enabled"] for a in settings_audits(app)] == [True, False]


def test_it_applies_to_unofficial_whatsapp_only(app, wa):
    with pytest.raises(UsageError) as exc:
        set_initiation(app, "tg", True, "lead", acknowledge_risk=True)
    assert "telegram" in exc.value.message("en")


@pytest.mark.parametrize(
    ("role", "allowed"), [("agent", False), ("viewer", False), ("team_lead", True), ("admin", True)]
)
def test_console_users_need_the_channel_settings_permission(app, wa, role, allowed):
    add_user(app, f"u_{role}", role, "a-long-password-123", SYSTEM)
    if allowed:
        assert set_initiation(app, "wa", True, f"u_{role}", acknowledge_risk=True).allowed
    else:
        with pytest.raises(PermissionDenied):
            set_initiation(app, "wa", True, f"u_{role}", acknowledge_risk=True)
        assert not initiation_state(app, "wa").enabled
