"""The Green-API adapter: the exact calls, HTTP errors and instance states, notifications
and their token, and the same code against the Green-API simulator over real HTTP."""

from __future__ import annotations

import httpx
import pytest

from hde_core.channels.greenapi import (
    GreenApiAdapter,
    chat_id_for,
    parse_notification,
)
from hde_core.domain import events as ev
from hde_core.domain.channels import ChannelKind, Provider
from hde_core.domain.outcomes import Disconnected, ErrorClass, Fail, Retry, Sent
from hde_core.domain.statuses import MessageStatus
from hde_core.sandbox.sim_greenapi import GreenApiSimulator
from hde_core.sandbox.smtp_sink import free_port
from tests.channels.messengers import (
    calls,
    config,
    control,
    fixture,
    hook,
    outgoing,
    running,
    serial,
)

E = ErrorClass
S = MessageStatus
TOKEN = "d75b3a66374942c5b3c019c698abc2067e151558acbd412345"


@pytest.fixture(scope="module")
def sim_url():
    with running(GreenApiSimulator()) as url:
        yield url


@pytest.fixture
async def http():
    async with httpx.AsyncClient() as client:
        yield client


def adapter(api_base, instance="1101000001", token=TOKEN, secret="wh-token", http=None, **settings):
    cfg = config(
        ChannelKind.WHATSAPP,
        Provider.GREEN_API,
        api_base,
        {"id_instance": instance, "api_token": token},
        secret=secret,
        settings=settings,
    )
    return GreenApiAdapter(cfg, http)


def new_instance(sim_url, http):
    instance = str(1102000000 + serial())
    return adapter(sim_url, instance=instance, http=http), int(instance)


# -- the request ------------------------------------------------------------------------


def test_send_is_exactly_the_documented_call():
    call = adapter(None).build_send_request(outgoing("+79123456789", "Ваш заказ готов"))
    assert call.method == "POST"
    assert call.url == f"https://api.green-api.com/waInstance1101000001/sendMessage/{TOKEN}"
    assert call.json == {"chatId": "79123456789@c.us", "message": "Ваш заказ готов"}
    assert dict(call.headers) == {}


def test_the_instance_api_url_is_the_api_base():
    call = adapter("https://1101.api.greenapi.com/").build_send_request(outgoing("+79123456789"))
    assert call.url.startswith("https://1101.api.greenapi.com/waInstance1101000001/sendMessage/")


@pytest.mark.parametrize(
    ("recipient", "chat"),
    [
        ("+79123456789", "79123456789@c.us"),
        ("+4915112345678", "4915112345678@c.us"),
        ("120363043968066561@g.us", "120363043968066561@g.us"),
    ],
)
def test_chat_ids(recipient, chat):
    assert chat_id_for(recipient) == chat


# -- errors -------------------------------------------------------------------------------

ERRORS = [
    (429, "Too Many Requests", Retry, E.RATE_LIMITED),
    (
        400,
        "Validation failed. Details: 'message' length must be less than or equal to 20000 characters long",
        Fail,
        E.INVALID_REQUEST,
    ),
    (400, "bad phone number, valid from 11 to 16 digits", Fail, E.INVALID_REQUEST),
    (400, "instance is starting or not authorized", Retry, E.TRANSIENT),
    (400, "instance not authorized", Disconnected, None),
    (401, "Unauthorized", Disconnected, None),
    (403, "Forbidden", Disconnected, None),
    (466, "Quota exceeded", Disconnected, None),
    (500, "Internal Server Error", Retry, E.TRANSIENT),
    (502, "Bad Gateway", Retry, E.TRANSIENT),
    (418, "teapot", Retry, E.TRANSIENT),
]


@pytest.mark.parametrize(("status", "text", "kind", "error_class"), ERRORS)
def test_http_errors_are_classified(status, text, kind, error_class):
    outcome = adapter(None).parse_send_response(httpx.Response(status, text=text), None)
    assert type(outcome) is kind
    assert outcome.code == str(status)
    if not isinstance(outcome, Disconnected):
        assert outcome.error_class == error_class and text in outcome.text


def test_a_json_error_body_is_read_too():
    body = {"message": "Validation failed. Details: 'chatId' is required"}
    outcome = adapter(None).parse_send_response(httpx.Response(400, json=body), body)
    assert isinstance(outcome, Fail) and "'chatId' is required" in outcome.text


# -- against the simulator ----------------------------------------------------------------


async def test_send_gives_chat_and_message_id(sim_url, http):
    bot, instance = new_instance(sim_url, http)
    outcome = await bot.send(outgoing("+79123456789", "Здравствуйте"))
    assert isinstance(outcome, Sent)
    sent = httpx.get(f"{sim_url}/_control/instances/{instance}/sent").json()
    assert outcome.provider_message_id == f"79123456789@c.us_{sent[-1]['idMessage']}"
    last = calls(sim_url)[-1]
    assert last["path"] == f"/waInstance{instance}/sendMessage/{TOKEN}"
    assert last["json"] == {"chatId": "79123456789@c.us", "message": "Здравствуйте"}


async def test_wrong_token_or_revoked_instance_disconnects(sim_url, http):
    bot, instance = new_instance(sim_url, http)
    assert (await bot.check_connection()).ok
    impostor = adapter(sim_url, instance=str(instance), token="another-token", http=http)
    outcome = await impostor.send(outgoing("+79123456789"))
    assert isinstance(outcome, Disconnected) and outcome.code == "401"
    control(sim_url, f"instances/{instance}/revoke")
    check = await bot.check_connection()
    assert not check.ok and "401" in check.detail


@pytest.mark.parametrize(
    ("state", "ok"),
    [
        ("authorized", True),
        ("starting", True),
        ("sleepMode", True),
        ("notAuthorized", False),
        ("blocked", False),
        ("yellowCard", False),
    ],
)
async def test_instance_states(sim_url, http, state, ok):
    bot, instance = new_instance(sim_url, http)
    await bot.check_connection()
    control(sim_url, f"instances/{instance}/state", state=state)
    check = await bot.check_connection()
    assert check.ok is ok and check.info == {"state": state}
    assert check.detail and "{" not in check.detail


@pytest.mark.parametrize(
    ("fault", "error_class"), [("rate_limit", E.RATE_LIMITED), ("server_error", E.TRANSIENT)]
)
async def test_rate_limit_and_server_errors_are_retried(sim_url, http, fault, error_class):
    bot, _ = new_instance(sim_url, http)
    control(sim_url, "config", fail_next=1, fail_with=fault)
    outcome = await bot.send(outgoing("+79123456789"))
    assert isinstance(outcome, Retry) and outcome.error_class == error_class


async def test_the_simulator_validates_like_green_api(sim_url, http):
    bot, instance = new_instance(sim_url, http)
    url = bot.method_url("sendMessage")
    answer = httpx.post(url, json={"chatId": "12345@c.us", "message": "x"})
    assert answer.status_code == 400 and "chatId" in answer.text
    answer = httpx.post(url, json={"chatId": "79123456789@c.us"})
    assert answer.status_code == 400 and "'message' is required" in answer.text
    outcome = await bot.send(outgoing("+79123456789", "x" * 20001))
    assert isinstance(outcome, Fail) and outcome.code == "text_too_long"  # refused before the call


async def test_register_webhook_sets_url_token_and_notifications(sim_url, http):
    bot, instance = new_instance(sim_url, http)
    bot = adapter(sim_url, instance=str(instance), http=http, send_delay_ms=3000)
    assert (await bot.register_webhook("https://hde.example.com/webhooks/wa")).ok
    assert calls(sim_url)[-1]["json"] == {
        "webhookUrl": "https://hde.example.com/webhooks/wa",
        "webhookUrlToken": "wh-token",
        "incomingWebhook": "yes",
        "outgoingWebhook": "yes",
        "outgoingMessageWebhook": "no",
        "outgoingAPIMessageWebhook": "no",
        "stateWebhook": "yes",
        "delaySendMessagesMilliseconds": 3000,
    }
    no_secret = adapter(sim_url, instance=str(instance), secret=None, http=http)
    assert not (await no_secret.register_webhook("https://x/webhooks/wa")).ok


@pytest.mark.process  # connects to a closed port
async def test_network_failure_is_a_transient_retry(http):
    bot = adapter(f"http://127.0.0.1:{free_port()}", http=http)
    outcome = await bot.send(outgoing("+79123456789"))
    assert isinstance(outcome, Retry) and outcome.error_class == E.TRANSIENT
    assert not (await bot.check_connection()).ok


# -- notifications ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "ok"),
    [
        ("Bearer wh-token", True),  # what Green-API's own integration library expects
        ("wh-token", True),  # the raw form, accepted too
        ("bearer  wh-token ", True),
        ("Bearer other", False),
        ("", False),
    ],
)
def test_the_authorization_header_carries_the_webhook_token(header, ok):
    request = hook(fixture("greenapi", "incoming_text"), Authorization=header)
    assert adapter(None).verify_webhook(request) is ok


def test_no_webhook_secret_refuses_every_notification():
    request = hook(fixture("greenapi", "incoming_text"), Authorization="Bearer ")
    assert not adapter(None, secret=None).verify_webhook(request)


def test_incoming_text_is_an_inbound_message_from_the_phone():
    (event,) = parse_notification(fixture("greenapi", "incoming_text"))
    assert isinstance(event, ev.InboundMessage)
    assert (event.address, event.phone) == ("+79123456789", "+79123456789")
    assert event.provider_message_id == "79123456789@c.us_F7AEC1B7086ECDC7E6E45923F5EDB825"
    assert (event.text, event.display_name) == ("Здравствуйте", "Мария Иванова")


@pytest.mark.parametrize(
    ("name", "text"),
    [("incoming_extended", "https://example.com заказ"), ("incoming_image", "[image]")],
)
def test_other_message_types_keep_their_text(name, text):
    (event,) = parse_notification(fixture("greenapi", name))
    assert isinstance(event, ev.InboundMessage) and event.text == text


@pytest.mark.parametrize(
    ("name", "status", "opt_out"),
    [
        ("status_sent", S.SENT, False),
        ("status_delivered", S.DELIVERED, False),
        ("status_read", S.READ, False),
        ("status_failed", S.FAILED, False),
        ("status_noAccount", S.FAILED, True),
    ],
)
def test_statuses_use_the_same_id_as_the_send(name, status, opt_out):
    (event,) = parse_notification(fixture("greenapi", name))
    assert isinstance(event, ev.StatusUpdate)
    assert event.provider_message_id == "79123456789@c.us_ECE6BBEA514B66872790C3D9D52C5C19"
    assert (event.status, event.opt_out) == (status, opt_out)


@pytest.mark.parametrize("name", ["incoming_group", "status_yellowCard", "state_changed"])
def test_notifications_we_do_not_record(name):
    assert parse_notification(fixture("greenapi", name)) == []


def test_statuses_of_messages_typed_on_the_phone_are_ignored():
    data = fixture("greenapi", "status_delivered") | {"sendByApi": False}
    assert parse_notification(data) == []


def test_a_body_without_type_is_malformed():
    with pytest.raises(ValueError):
        adapter(None).parse_webhook(hook({"idMessage": "x"}))
