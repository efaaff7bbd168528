"""Every documented error code of every provider, through both paths (issue 15).

For each row of a provider's error table (``shared/PROVIDERS.md``):

- **send path**: the simulator, over real HTTP, is told to answer the next call with
  that code in the provider's own shape; the adapter's outcome gives a class and a
  stop signal;
- **webhook path** (where the provider reports failures by webhook): a signed
  ``failed`` status with that code goes to our receiver for a message we sent; the
  stored message gives the class, the identity the stop signal.

Both must equal what the table says — one table, one meaning, whichever way the
code arrives. Telegram has no delivery webhooks (its stop signal by webhook is the
``my_chat_member`` "kicked" update, tested at the end).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from typing import Any

import httpx
import pytest

from hde_core.channels.base import OutgoingMessage
from hde_core.channels.dialog360 import D360_ERRORS
from hde_core.channels.errors import ErrorRow, ErrorTable
from hde_core.channels.greenapi import GREEN_ERRORS
from hde_core.channels.registry import build_adapter
from hde_core.channels.telegram import TELEGRAM_ERRORS
from hde_core.channels.viber import VIBER_ERRORS
from hde_core.channels.wa_errors import META_ERRORS
from hde_core.db.models import Channel, ContactIdentity, Message, Ticket
from hde_core.domain.outcomes import Disconnected, ErrorClass, Fail, Hold, Retry, SendOutcome
from hde_core.domain.statuses import MessageStatus
from hde_core.entrypoints.http import build_http_app
from hde_core.sandbox.server import HttpServer
from hde_core.sandbox.sim_wa_data import status_error
from hde_core.sandbox.smtp_sink import free_port
from hde_core.services.channels import channel_by_name, channel_config
from hde_core.services.contacts import find_or_create_identity
from tests.channels.messengers import messengers, post_hook
from tests.channels.wa_helpers import (
    ANNA,
    D360_SECRET,
    PHONE_NUMBER_ID,
    provision_360,
    provision_meta,
    signed_post,
)

E = ErrorClass
S = MessageStatus
_ids = itertools.count(1)

#: What a failed status webhook leaves the message as, per class.
STATUS_FOR = {
    E.RATE_LIMITED: S.RETRYING,
    E.TRANSIENT: S.RETRYING,
    E.WINDOW_CLOSED: S.HELD,
    E.AUTH: S.QUEUED,
    E.NOT_REACHABLE: S.FAILED,
    E.TEMPLATE_REJECTED: S.FAILED,
    E.INVALID_REQUEST: S.FAILED,
}


def expected(row: ErrorRow) -> tuple[ErrorClass, bool]:
    return row.rule.error_class, row.rule.stop


def read_outcome(outcome: SendOutcome) -> tuple[ErrorClass, bool]:
    if isinstance(outcome, Retry):
        return outcome.error_class, False
    if isinstance(outcome, Hold):
        return E.WINDOW_CLOSED, False
    if isinstance(outcome, Disconnected):
        return E.AUTH, False
    assert isinstance(outcome, Fail), outcome
    return outcome.error_class, outcome.opt_out


def numbered(table: ErrorTable) -> list[ErrorRow]:
    """The rows a provider can send as a code (not our ``http_*`` / word fallbacks)."""
    return [r for r in table.documented() if isinstance(r.code, int)]


# -- helpers ------------------------------------------------------------------------------


def send_with_forced(app, channel: str, sim_base: str, code: Any, recipient: str) -> SendOutcome:
    response = httpx.post(f"{sim_base}/_control/errors", json={"codes": [code]}, timeout=10)
    assert response.status_code == 200, response.text
    with app.db.reader() as s:
        config = channel_config(s, app.secrets, channel_by_name(s, channel))

    async def go() -> SendOutcome:
        adapter = build_adapter(config)
        try:
            return await adapter.send(
                OutgoingMessage(1, "text", recipient, {"text": "Hello"}, f"k{next(_ids)}")
            )
        finally:
            await adapter.http.aclose()

    return asyncio.run(go())


def sent_message(app, channel: str, address: str, provider_id: str) -> tuple[int, int]:
    """A message we handed to the provider (status ``sent``): (message id, identity id)."""
    with app.db.transaction() as s:
        ch = channel_by_name(s, channel)
        who = find_or_create_identity(s, ch, address)
        ticket = Ticket(subject="s", body="b", channel_id=ch.id, created_by="t", identity_id=who.id)
        s.add(ticket)
        s.flush()
        m = Message(
            ticket_id=ticket.id,
            channel_id=ch.id,
            identity_id=who.id,
            recipient=address,
            kind="text",
            status=S.SENT.value,
            payload={"text": "b"},
            idempotency_key=f"t{ticket.id}-{provider_id}",
            provider_message_id=provider_id,
        )
        s.add(m)
        s.flush()
        return m.id, who.id


def stored(app, message_id: int, identity_id: int) -> tuple[ErrorClass, bool, str]:
    with app.db.reader() as s:
        m = s.get(Message, message_id)
        who = s.get(ContactIdentity, identity_id)
        return E(m.error_class), who.opted_out_at is not None, m.status


def reset_channel(app, channel: str) -> None:
    """An AUTH code stops the channel; the next row starts from a connected one."""
    with app.db.transaction() as s:
        ch = s.get(Channel, channel_by_name(s, channel).id)
        ch.connection_status = "connected"
        ch.connection_error = None


def check(rows: list[ErrorRow], run: Any) -> None:
    """Run every row, then report every mismatch at once."""
    wrong = []
    for row in rows:
        got = run(row)
        if got != expected(row):
            wrong.append((row.code, row.words, "expected", expected(row), "got", got))
    assert not wrong, "\n".join(map(str, wrong))


# -- Meta Cloud API and 360dialog ---------------------------------------------------------


def wa_failed_status(wamid: str, code: int) -> bytes:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550100001", "phone_number_id": PHONE_NUMBER_ID},
        "statuses": [
            {
                "id": wamid,
                "status": "failed",
                "timestamp": str(int(time.time())),
                "recipient_id": ANNA.lstrip("+"),
                "errors": [status_error(code)],
            }
        ],
    }
    body = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": value}]}],
    }
    return json.dumps(body).encode()


@pytest.fixture
def wa_world(app, tmp_path):
    server = HttpServer(build_http_app(app), "127.0.0.1", free_port()).start()
    provision_meta(app, tmp_path, server.url)
    provision_360(app, tmp_path, server.url)
    yield server
    server.stop()


@pytest.mark.parametrize(
    ("channel", "table", "sim", "post"),
    [
        ("wa", META_ERRORS, "meta", lambda url, body: signed_post(url, body)),
        (
            "wa360",
            D360_ERRORS,
            "360dialog",
            lambda url, body: httpx.post(
                url,
                content=body,
                headers={"Content-Type": "application/json", "X-HDE-Webhook-Token": D360_SECRET},
            ),
        ),
    ],
)
def test_every_whatsapp_code_means_the_same_by_send_and_by_webhook(
    app, wa_world, channel, table, sim, post
):
    sim_base = f"{wa_world.url}/sim/{sim}"

    def by_send(row: ErrorRow) -> tuple[ErrorClass, bool]:
        reset_channel(app, channel)
        return read_outcome(send_with_forced(app, channel, sim_base, row.code, ANNA))

    def by_webhook(row: ErrorRow) -> tuple[ErrorClass, bool]:
        wamid = f"wamid.{channel}.{row.code}.{next(_ids)}"
        mid, who = sent_message(app, channel, ANNA, wamid)
        with app.db.transaction() as s:  # every row starts with a client who has not opted out
            s.get(ContactIdentity, who).opted_out_at = None
        response = post(f"{wa_world.url}/webhooks/{channel}", wa_failed_status(wamid, row.code))
        assert response.status_code == 200, response.text
        error_class, stop, status = stored(app, mid, who)
        assert status == STATUS_FOR[error_class].value, (row.code, status)
        return error_class, stop

    rows = numbered(table)
    assert {131026, 131047, 131049, 131050, 132001, 33, 135000, 133010} <= {r.code for r in rows}
    check(rows, by_send)
    check(rows, by_webhook)


# -- Telegram, Viber, Green-API -----------------------------------------------------------


@pytest.fixture
def env(app, tmp_path):
    with messengers(app, tmp_path) as info:
        yield info


def test_every_telegram_error_by_send(app, env):
    def by_send(row: ErrorRow) -> tuple[ErrorClass, bool]:
        reset_channel(app, "telegram")
        words = {"code": row.code, "text": f"Error {row.code}: {row.words}".strip()}
        return read_outcome(send_with_forced(app, "telegram", env["telegram"], words, "1111111"))

    check(list(TELEGRAM_ERRORS.rows), by_send)


def test_telegram_stop_signal_by_webhook_matches_the_blocked_answer(app, env):
    """A 403 "blocked" stops the identity; so does the update telling the bot it was blocked."""
    (row,) = [r for r in TELEGRAM_ERRORS.rows if r.words == "bot was blocked by the user"]
    assert expected(row) == (E.NOT_REACHABLE, True)
    update = {
        "update_id": 5,
        "my_chat_member": {
            "chat": {"id": 2222222, "type": "private", "first_name": "Ann"},
            "from": {"id": 2222222, "is_bot": False, "first_name": "Ann"},
            "date": int(time.time()),
            "old_chat_member": {"status": "member"},
            "new_chat_member": {"status": "kicked"},
        },
    }
    assert post_hook(env, "telegram", update).status_code == 200
    with app.db.reader() as s:
        ch = channel_by_name(s, "telegram")
        who = find_or_create_identity(s, ch, "2222222")
        assert who.opted_out_at is not None


def test_every_viber_status_means_the_same_by_send_and_by_failed_callback(app, env):
    user = "01234567890A="

    def by_send(row: ErrorRow) -> tuple[ErrorClass, bool]:
        reset_channel(app, "viber")
        return read_outcome(send_with_forced(app, "viber", env["viber"], row.code, user))

    def by_webhook(row: ErrorRow) -> tuple[ErrorClass, bool]:
        token = str(5_000_000_000 + next(_ids))
        mid, who = sent_message(app, "viber", user, token)
        with app.db.transaction() as s:
            s.get(ContactIdentity, who).opted_out_at = None
        callback = {
            "event": "failed",
            "timestamp": int(time.time() * 1000),
            "message_token": int(token),
            "user_id": user,
            "desc": f"{row.note} (status {row.code})",
        }
        assert post_hook(env, "viber", callback).status_code == 200
        error_class, stop, status = stored(app, mid, who)
        assert status == STATUS_FOR[error_class].value, (row.code, status)
        return error_class, stop

    rows = [r for r in numbered(VIBER_ERRORS) if r.code < 100]
    assert {r.code for r in rows} == set(range(1, 25))
    check(rows, by_send)
    check(rows, by_webhook)


def test_every_green_api_error_by_send_and_every_failed_status_by_webhook(app, env):
    phone = "+79123456789"

    def by_send(row: ErrorRow) -> tuple[ErrorClass, bool]:
        reset_channel(app, "whatsapp")
        words = {"code": row.code, "text": f"Error {row.code}: {row.words}".strip()}
        return read_outcome(send_with_forced(app, "whatsapp", env["greenapi"], words, phone))

    def by_webhook(row: ErrorRow) -> tuple[ErrorClass, bool]:
        id_message = f"BAE5{next(_ids):012d}"
        chat = "79123456789@c.us"
        mid, who = sent_message(app, "whatsapp", phone, f"{chat}_{id_message}")
        with app.db.transaction() as s:
            s.get(ContactIdentity, who).opted_out_at = None
        status = {
            "typeWebhook": "outgoingMessageStatus",
            "chatId": chat,
            "instanceData": {"idInstance": int(env["instance"]), "wid": "1@c.us"},
            "timestamp": int(time.time()),
            "idMessage": id_message,
            "status": row.code,
            "sendByApi": True,
        }
        assert post_hook(env, "whatsapp", status).status_code == 200
        error_class, stop, state = stored(app, mid, who)
        assert state == STATUS_FOR[error_class].value, (row.code, state)
        return error_class, stop

    check(numbered(GREEN_ERRORS), by_send)
    words = [r for r in GREEN_ERRORS.documented() if isinstance(r.code, str)]
    assert {r.code for r in words} >= {"noAccount", "failed", "noActiveSession"}
    check(words, by_webhook)
