"""The Viber adapter: the exact calls, every ``status`` of the error table, callbacks and
their signature, and the same code against the Viber simulator over real HTTP."""

from __future__ import annotations

import httpx
import pytest

from hde_core.channels.base import hmac_sha256_hex
from hde_core.channels.viber import VIBER_STATUS, ViberAdapter, parse_callback
from hde_core.domain import events as ev
from hde_core.domain.channels import ChannelKind, Provider
from hde_core.domain.outcomes import Disconnected, ErrorClass, Fail, Retry, Sent
from hde_core.domain.statuses import MessageStatus
from hde_core.sandbox.sim_viber import ViberSimulator
from hde_core.sandbox.smtp_sink import free_port
from tests.channels.messengers import (
    calls,
    config,
    control,
    fixture,
    fixture_bytes,
    hook,
    outgoing,
    running,
    serial,
)

E = ErrorClass
TOKEN = "445da6az1s345z78-dazcczb2542zv51a-e0vc5fva17480im9"


@pytest.fixture(scope="module")
def sim_url():
    with running(ViberSimulator()) as url:
        yield url


@pytest.fixture
async def http():
    async with httpx.AsyncClient() as client:
        yield client


def adapter(api_base, token=TOKEN, http=None, **settings):
    cfg = config(
        ChannelKind.VIBER,
        Provider.VIBER,
        api_base,
        {"auth_token": token},
        settings=settings or {"sender_name": "Служба поддержки"},
    )
    return ViberAdapter(cfg, http)


async def new_bot(sim_url, http):
    """A bot the simulator knows (no webhook yet): its adapter and account id."""
    bot = adapter(sim_url, f"{serial():016d}-cd8869c327e2c592-60fd2dddaa295531", http=http)
    check = await bot.check_connection()
    assert check.ok
    return bot, check.info["id"]


# -- the request ------------------------------------------------------------------------


def test_send_is_exactly_the_documented_call():
    call = adapter(None).build_send_request(outgoing("01234567890A=", "Ваш заказ готов"))
    assert call.method == "POST"
    assert call.url == "https://chatapi.viber.com/pa/send_message"
    assert dict(call.headers) == {"X-Viber-Auth-Token": TOKEN}
    assert call.json == {
        "receiver": "01234567890A=",
        "min_api_version": 1,
        "sender": {"name": "Служба поддержки"},
        "tracking_data": "ticket:1:text",
        "type": "text",
        "text": "Ваш заказ готов",
    }


def test_sender_name_is_cut_to_28_characters_and_avatar_is_optional():
    call = adapter(None, sender_name="x" * 40, sender_avatar="https://a/b.png").build_send_request(
        outgoing("u1")
    )
    assert call.json["sender"] == {"name": "x" * 28, "avatar": "https://a/b.png"}
    assert adapter(None, sender_name="").build_send_request(outgoing("u1")).json["sender"] == {
        "name": "chan"
    }


def test_ok_answer_gives_the_message_token_as_a_string():
    body = fixture("viber", "send_ok")
    outcome = adapter(None).parse_send_response(httpx.Response(200, json=body), body)
    assert outcome == Sent("5925491906424759104", raw=body)


# -- the status table -------------------------------------------------------------------

STATUSES = [
    (1, Disconnected, None, False),
    (2, Disconnected, None, False),
    (3, Fail, E.INVALID_REQUEST, False),
    (4, Fail, E.INVALID_REQUEST, False),
    (5, Fail, E.NOT_REACHABLE, True),
    (6, Fail, E.NOT_REACHABLE, True),
    (7, Disconnected, None, False),
    (8, Disconnected, None, False),
    (9, Disconnected, None, False),
    (10, Disconnected, None, False),
    (11, Fail, E.NOT_REACHABLE, True),
    (12, Retry, E.RATE_LIMITED, False),
    (13, Fail, E.NOT_REACHABLE, False),
    (14, Fail, E.INVALID_REQUEST, False),
    (15, Disconnected, None, False),
    (21, Fail, E.NOT_REACHABLE, False),
    (23, Disconnected, None, False),
    (24, Disconnected, None, False),
    (99, Retry, E.TRANSIENT, False),  # "general error": unknown → capped transient
]


@pytest.mark.parametrize(("status", "kind", "error_class", "opt_out"), STATUSES)
def test_every_status_is_classified(status, kind, error_class, opt_out):
    body = {"status": status, "status_message": f"status{status}"}
    outcome = adapter(None).parse_send_response(httpx.Response(200, json=body), body)
    assert type(outcome) is kind
    assert outcome.code == str(status)
    if isinstance(outcome, Fail):
        assert (outcome.error_class, outcome.opt_out) == (error_class, opt_out)
    if isinstance(outcome, Retry):
        assert outcome.error_class == error_class


def test_the_table_covers_every_documented_status():
    assert set(range(1, 25)) - set(VIBER_STATUS) == set()


@pytest.mark.parametrize(
    ("response", "error_class", "after"),
    [
        (httpx.Response(429, headers={"Retry-After": "9"}), E.RATE_LIMITED, 9.0),
        (httpx.Response(503, text="Service Unavailable"), E.TRANSIENT, None),
        (httpx.Response(200, text="<html>proxy error</html>"), E.TRANSIENT, None),
    ],
)
def test_http_level_trouble_is_retried(response, error_class, after):
    outcome = adapter(None).parse_send_response(response, None)
    assert isinstance(outcome, Retry) and (outcome.error_class, outcome.after) == (
        error_class,
        after,
    )


# -- against the simulator ----------------------------------------------------------------


async def test_viber_refuses_to_send_before_a_webhook_is_set(sim_url, http):
    bot, account = await new_bot(sim_url, http)
    outcome = await bot.send(outgoing("u-anyone"))
    assert isinstance(outcome, Disconnected) and outcome.code == "10"  # webhookNotSet


@pytest.fixture(scope="module")
def echo_url():
    """A receiver that answers 200 to anything (stands in for ours in adapter-only tests)."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from hde_core.sandbox.server import HttpServer

    async def ok(request):
        await request.body()
        return JSONResponse({"ok": True})

    server = HttpServer(
        Starlette(routes=[Route("/{p:path}", ok, methods=["POST"])]), "127.0.0.1", free_port()
    ).start()
    yield server.url
    server.stop()


async def ready_bot(sim_url, echo_url, http):
    bot, account = await new_bot(sim_url, http)
    assert (await bot.register_webhook(f"{echo_url}/hook")).ok
    return bot, account


async def test_send_reaches_a_user_who_wrote(sim_url, echo_url, http):
    bot, account = await ready_bot(sim_url, echo_url, http)
    user = f"user{serial()}AAAA=="
    control(sim_url, f"users/{user}/write", bot_id=account, text="Здравствуйте")
    outcome = await bot.send(outgoing(user, "Чем помочь?"))
    assert isinstance(outcome, Sent) and outcome.provider_message_id.isdigit()
    last = calls(sim_url)[-1]
    assert last["path"] == "/send_message"
    assert last["headers"]["x-viber-auth-token"] == bot.config.credentials["auth_token"]
    assert last["json"]["receiver"] == user and last["json"]["text"] == "Чем помочь?"


@pytest.mark.parametrize(
    ("setup", "error_class", "opt_out", "status"),
    [
        ("unknown", E.NOT_REACHABLE, True, "5"),
        ("not_viber", E.NOT_REACHABLE, True, "5"),
        ("unsubscribed", E.NOT_REACHABLE, True, "6"),
        ("never_wrote", E.NOT_REACHABLE, True, "6"),
    ],
)
async def test_refusals_of_the_simulator(
    sim_url, echo_url, http, setup, error_class, opt_out, status
):
    bot, account = await ready_bot(sim_url, echo_url, http)
    user = f"user{serial()}BBBB=="
    if setup == "not_viber":
        control(sim_url, "users", id=user, registered=False)
    elif setup == "unsubscribed":
        control(sim_url, f"users/{user}/write", bot_id=account)
        control(sim_url, f"users/{user}/unsubscribe", bot_id=account)
    elif setup == "never_wrote":
        control(sim_url, "users", id=user, name="Kate")
    outcome = await bot.send(outgoing(user))
    assert isinstance(outcome, Fail) and outcome.code == status
    assert (outcome.error_class, outcome.opt_out) == (error_class, opt_out)


async def test_sender_name_is_required_by_viber(sim_url, echo_url, http):
    bot, account = await ready_bot(sim_url, echo_url, http)
    user = f"user{serial()}CCCC=="
    control(sim_url, f"users/{user}/write", bot_id=account)
    body = bot.build_send_request(outgoing(user)).json
    answer = httpx.post(
        f"{sim_url}/send_message",
        json={**body, "sender": {}},
        headers={"X-Viber-Auth-Token": bot.config.credentials["auth_token"]},
    ).json()
    assert answer == {"status": 3, "status_message": "badData"}


async def test_bad_token_and_revoked_account_disconnect(sim_url, echo_url, http):
    assert isinstance(await adapter(sim_url, "short", http=http).send(outgoing("u")), Disconnected)
    bot, account = await ready_bot(sim_url, echo_url, http)
    control(sim_url, f"bots/{account}/revoke")
    check = await bot.check_connection()
    assert not check.ok and "2 invalidAuthToken" in check.detail


async def test_rate_limit_is_status_12_and_server_errors_are_retried(sim_url, echo_url, http):
    bot, account = await ready_bot(sim_url, echo_url, http)
    user = f"user{serial()}DDDD=="
    control(sim_url, f"users/{user}/write", bot_id=account)
    for fault, error_class in (("rate_limit", E.RATE_LIMITED), ("server_error", E.TRANSIENT)):
        control(sim_url, "config", fail_next=1, fail_with=fault)
        outcome = await bot.send(outgoing(user))
        assert isinstance(outcome, Retry) and outcome.error_class == error_class
    assert isinstance(await bot.send(outgoing(user)), Sent)


@pytest.mark.process
async def test_set_webhook_checks_the_url_and_sends_the_event_types(sim_url, echo_url, http):
    bot, account = await new_bot(sim_url, http)
    dead = f"http://127.0.0.1:{free_port()}/hook"
    refused = await bot.register_webhook(dead)
    assert not refused.ok and "1 invalidUrl" in refused.detail
    assert (await bot.register_webhook(f"{echo_url}/hook")).ok
    assert calls(sim_url)[-1]["json"] == {
        "url": f"{echo_url}/hook",
        "event_types": [
            "delivered",
            "seen",
            "failed",
            "subscribed",
            "unsubscribed",
            "conversation_started",
        ],
        "send_name": True,
        "send_photo": False,
    }
    info = await bot.check_connection()
    assert info.info["webhook"] == f"{echo_url}/hook"


@pytest.mark.process  # connects to a closed port
async def test_network_failure_is_a_transient_retry(http):
    outcome = await adapter(f"http://127.0.0.1:{free_port()}", http=http).send(outgoing("u1"))
    assert isinstance(outcome, Retry) and outcome.error_class == E.TRANSIENT


# -- callbacks ----------------------------------------------------------------------------


def test_signature_is_hmac_of_the_raw_body_with_the_auth_token():
    raw = fixture_bytes("viber", "message")
    good = hmac_sha256_hex(TOKEN, raw)
    bot = adapter(None)
    assert bot.verify_webhook(hook(raw, **{"X-Viber-Content-Signature": good}))
    assert bot.verify_webhook(hook(raw, **{"X-Viber-Content-Signature": good.upper()}))
    assert not bot.verify_webhook(hook(raw + b" ", **{"X-Viber-Content-Signature": good}))
    assert not bot.verify_webhook(hook(raw, **{"X-Viber-Content-Signature": "0" * 64}))
    assert not bot.verify_webhook(hook(raw))
    other = adapter(None, token="another-token-0000000000")
    assert not other.verify_webhook(hook(raw, **{"X-Viber-Content-Signature": good}))


def test_message_callback_is_an_inbound_message():
    (event,) = parse_callback(fixture("viber", "message"))
    assert isinstance(event, ev.InboundMessage)
    assert event.address == "xy5/5y6O81+/kbWHpLhBoA=="
    assert event.provider_message_id == "4987381189870374000"
    assert (event.text, event.display_name) == ("incoming msg", "ET3")
    assert event.at.timestamp() == pytest.approx(1795660000.123)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("picture", [("InboundMessage", "xy5/5y6O81+/kbWHpLhBoA==", "[picture]")]),
        ("subscribed", [("Subscribed", "01234567890A=", None)]),
        ("unsubscribed", [("OptedOut", "01234567890A=", "unsubscribed")]),
        ("conversation_started", []),  # not subscribed yet: not "has written"
        ("webhook", []),
    ],
)
def test_callbacks_in_our_vocabulary(name, expected):
    got = [
        (type(e).__name__, e.address, getattr(e, "text", None) or getattr(e, "reason", None))
        for e in parse_callback(fixture("viber", name))
    ]
    assert got == expected


def test_conversation_started_by_a_subscriber_counts_as_subscribed():
    data = fixture("viber", "conversation_started") | {"subscribed": True}
    (event,) = parse_callback(data)
    assert isinstance(event, ev.Subscribed) and event.address == "01234567890A="


@pytest.mark.parametrize(
    ("name", "status", "error_text"),
    [
        ("delivered", MessageStatus.DELIVERED, None),
        ("seen", MessageStatus.READ, None),
        ("failed", MessageStatus.FAILED, "failure description"),
    ],
)
def test_statuses_refer_to_our_message_token(name, status, error_text):
    (event,) = parse_callback(fixture("viber", name))
    assert isinstance(event, ev.StatusUpdate)
    assert (event.provider_message_id, event.status) == ("5925491906424759104", status)
    assert event.error_text == error_text


def test_welcome_text_answers_conversation_started():
    bot = adapter(None, sender_name="Support", welcome_text="Здравствуйте! Напишите нам.")
    reply = bot.webhook_reply(hook(fixture("viber", "conversation_started")), [])
    assert reply == {
        "sender": {"name": "Support"},
        "type": "text",
        "text": "Здравствуйте! Напишите нам.",
    }
    assert bot.webhook_reply(hook(fixture("viber", "message")), []) is None
    assert adapter(None).webhook_reply(hook(fixture("viber", "conversation_started")), []) is None


def test_a_body_without_event_is_malformed():
    with pytest.raises(ValueError):
        adapter(None).parse_webhook(hook({"status": 0}))
