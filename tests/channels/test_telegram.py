"""The Telegram adapter: the exact calls it makes, how it reads every documented answer,
and the same code against the Bot API simulator over real HTTP."""

from __future__ import annotations

import httpx
import pytest

from hde_core.channels.telegram import TELEGRAM_ERRORS, TelegramAdapter, classify, parse_update
from hde_core.domain import events as ev
from hde_core.domain.channels import ChannelKind, Provider
from hde_core.domain.outcomes import Disconnected, ErrorClass, Fail, Retry, Sent
from hde_core.sandbox.sim_telegram import TelegramSimulator
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


@pytest.fixture(scope="module")
def sim_url():
    with running(TelegramSimulator()) as url:
        yield url


@pytest.fixture
async def http():
    async with httpx.AsyncClient() as client:
        yield client


def adapter(api_base, token="42:SECRET-TOKEN", secret="hook-secret", http=None):
    cfg = config(
        ChannelKind.TELEGRAM, Provider.TELEGRAM, api_base, {"bot_token": token}, secret=secret
    )
    return TelegramAdapter(cfg, http)


async def new_bot(sim_url, http):
    """A bot the simulator knows (as after talking to @BotFather): its adapter and id."""
    n = serial()
    bot = adapter(sim_url, f"{5000 + n}:BOT-TOKEN-{n:04d}xyz", http=http)
    assert (await bot.check_connection()).ok
    return bot, 5000 + n


# -- the request ------------------------------------------------------------------------


def test_send_is_exactly_the_documented_call():
    call = adapter(None).build_send_request(outgoing("123456789", "Здравствуйте"))
    assert call.method == "POST"
    assert call.url == "https://api.telegram.org/bot42:SECRET-TOKEN/sendMessage"
    assert call.json == {"chat_id": 123456789, "text": "Здравствуйте"}
    assert dict(call.headers) == {}


def test_negative_group_ids_stay_numbers_and_api_base_is_configurable():
    call = adapter("http://bot-api.local:8081/").build_send_request(outgoing("-100123"))
    assert call.url == "http://bot-api.local:8081/bot42:SECRET-TOKEN/sendMessage"
    assert call.json["chat_id"] == -100123


def test_ok_answer_gives_the_chat_and_message_id():
    body = fixture("telegram", "send_ok")
    outcome = adapter(None).parse_send_response(httpx.Response(200, json=body), body)
    assert outcome == Sent("123456789:42", raw=body)


# -- every documented error, table-driven -------------------------------------------------

ERRORS = [
    # fixture name, expected outcome type, class, opt-out, retry after
    ("rate_limited", Retry, E.RATE_LIMITED, False, 15.0),
    ("rate_limited_old", Retry, E.RATE_LIMITED, False, 3.0),
    ("blocked", Fail, E.NOT_REACHABLE, True, None),
    ("deactivated", Fail, E.NOT_REACHABLE, True, None),
    ("cant_initiate", Fail, E.NOT_REACHABLE, True, None),
    ("kicked", Fail, E.NOT_REACHABLE, True, None),
    ("not_member", Fail, E.NOT_REACHABLE, True, None),
    ("forbidden_other", Fail, E.NOT_REACHABLE, False, None),
    ("chat_not_found", Fail, E.NOT_REACHABLE, False, None),
    ("too_long", Fail, E.INVALID_REQUEST, False, None),
    ("unauthorized", Disconnected, None, False, None),
    ("not_found", Disconnected, None, False, None),
    ("conflict", Fail, E.INVALID_REQUEST, False, None),
    ("server", Retry, E.TRANSIENT, False, None),
    ("bad_gateway", Retry, E.TRANSIENT, False, None),
]


@pytest.mark.parametrize(("name", "kind", "error_class", "opt_out", "after"), ERRORS)
def test_documented_errors_are_classified(name, kind, error_class, opt_out, after):
    body = fixture("telegram", "errors")[name]
    response = httpx.Response(body["error_code"], json=body)
    outcome = adapter(None).parse_send_response(response, body)
    assert type(outcome) is kind
    if isinstance(outcome, Retry):
        assert (outcome.error_class, outcome.after) == (error_class, after)
        assert outcome.code == str(body["error_code"])
    elif isinstance(outcome, Fail):
        assert (outcome.error_class, outcome.opt_out) == (error_class, opt_out)
        assert body["description"] in outcome.text
    else:
        assert "token" in outcome.text.lower() or "токен" in outcome.text.lower()


def test_retry_after_header_is_used_when_the_body_has_none():
    response = httpx.Response(429, headers={"Retry-After": "7"}, json={"ok": False})
    assert classify(429, {"ok": False}, response).retry_after == 7.0


def test_an_unknown_answer_is_a_capped_transient_retry():
    response = httpx.Response(418, text="I'm a teapot")
    outcome = adapter(None).parse_send_response(response, None)
    assert isinstance(outcome, Retry) and outcome.error_class == E.TRANSIENT


def test_every_table_row_names_a_real_http_status():
    assert all(100 <= row.code < 600 for row in TELEGRAM_ERRORS.rows)


# -- the same adapter against the simulator, over HTTP ------------------------------------


async def test_send_to_a_user_who_started_the_bot(sim_url, http):
    bot, bot_id = await new_bot(sim_url, http)
    control(sim_url, "users/555001/write", bot_id=bot_id, username="ann")
    outcome = await bot.send(outgoing("555001", "Ваш заказ готов"))
    sent = httpx.get(f"{sim_url}/_control/bots/{bot_id}/sent").json()
    assert outcome == Sent(f"555001:{sent[-1]['message_id']}", raw=outcome.raw)
    last = calls(sim_url)[-1]
    assert last["method"] == "POST"
    assert last["path"] == f"/bot{bot.config.credentials['bot_token']}/sendMessage"
    assert last["headers"]["content-type"] == "application/json"
    assert last["json"] == {"chat_id": 555001, "text": "Ваш заказ готов"}
    assert [m["text"] for m in sent] == ["Ваш заказ готов"]


@pytest.mark.parametrize(
    ("setup", "error_class", "opt_out", "words"),
    [
        ("never_started", E.NOT_REACHABLE, True, "can't initiate"),
        ("unknown", E.NOT_REACHABLE, False, "chat not found"),
        ("blocked", E.NOT_REACHABLE, True, "blocked by the user"),
        ("deactivated", E.NOT_REACHABLE, True, "deactivated"),
    ],
)
async def test_refusals_of_the_simulator_map_to_the_taxonomy(
    sim_url, http, setup, error_class, opt_out, words
):
    bot, bot_id = await new_bot(sim_url, http)
    user = 600000 + serial()
    if setup == "never_started":
        control(sim_url, "users", id=user, first_name="Kate")
    elif setup == "blocked":
        control(sim_url, f"users/{user}/write", bot_id=bot_id)
        control(sim_url, f"users/{user}/block", bot_id=bot_id)
    elif setup == "deactivated":
        control(sim_url, f"users/{user}/write", bot_id=bot_id)
        control(sim_url, "users", id=user, deactivated=True)
    outcome = await bot.send(outgoing(str(user)))
    assert isinstance(outcome, Fail)
    assert (outcome.error_class, outcome.opt_out) == (error_class, opt_out)
    assert words in outcome.text


async def test_a_username_of_a_user_cannot_be_messaged(sim_url, http):
    bot, bot_id = await new_bot(sim_url, http)
    control(sim_url, f"users/{600000 + serial()}/write", bot_id=bot_id, username="kate")
    outcome = await bot.send(outgoing("@kate"))
    assert isinstance(outcome, Fail) and "chat not found" in outcome.text
    assert calls(sim_url)[-1]["json"]["chat_id"] == "@kate"


async def test_a_revoked_or_malformed_token_disconnects_the_channel(sim_url, http):
    bot, bot_id = await new_bot(sim_url, http)
    assert (await bot.check_connection()).ok
    control(sim_url, f"bots/{bot_id}/revoke")
    outcome = await bot.send(outgoing("1"))
    assert isinstance(outcome, Disconnected) and outcome.code == "401"
    check = await bot.check_connection()
    assert not check.ok and "401" in check.detail
    malformed = adapter(sim_url, "not-a-token", http=http)
    assert isinstance(await malformed.send(outgoing("1")), Disconnected)


@pytest.mark.parametrize(
    ("fault", "error_class", "after"),
    [("rate_limit", E.RATE_LIMITED, 4.0), ("server_error", E.TRANSIENT, None)],
)
async def test_rate_limit_and_server_errors_are_retried(sim_url, http, fault, error_class, after):
    bot, bot_id = await new_bot(sim_url, http)
    control(sim_url, f"users/{bot_id}0/write", bot_id=bot_id)
    control(sim_url, "config", fail_next=1, fail_with=fault, retry_after_s=4)
    outcome = await bot.send(outgoing(f"{bot_id}0"))
    assert isinstance(outcome, Retry)
    assert (outcome.error_class, outcome.after) == (error_class, after)
    assert isinstance(await bot.send(outgoing(f"{bot_id}0")), Sent)  # the next call passes


async def test_the_configured_rate_limit_answers_429(sim_url, http):
    bot, bot_id = await new_bot(sim_url, http)
    control(sim_url, f"users/{bot_id}0/write", bot_id=bot_id)
    control(sim_url, "config", rate_limit_per_sec=1, retry_after_s=2)
    try:
        first = await bot.send(outgoing(f"{bot_id}0"))
        second = await bot.send(outgoing(f"{bot_id}0"))
    finally:
        control(sim_url, "config", rate_limit_per_sec=0)
    assert isinstance(first, Sent)
    assert isinstance(second, Retry) and second.error_class == E.RATE_LIMITED
    assert second.after == 2.0


@pytest.mark.process  # connects to a closed port
async def test_network_failure_is_a_transient_retry(http):
    bot = adapter(f"http://127.0.0.1:{free_port()}", http=http)
    outcome = await bot.send(outgoing("1"))
    assert isinstance(outcome, Retry) and outcome.error_class == E.TRANSIENT
    assert not (await bot.check_connection()).ok


@pytest.mark.process  # binds a free port
async def test_empty_or_too_long_text_is_refused_without_calling(http):
    bot = adapter(f"http://127.0.0.1:{free_port()}", http=http)
    for text in ("", "x" * 4097):
        outcome = await bot.send(outgoing("1", text))
        assert isinstance(outcome, Fail) and outcome.error_class == E.INVALID_REQUEST


async def test_check_connection_names_the_bot(sim_url, http):
    bot, bot_id = await new_bot(sim_url, http)
    check = await bot.check_connection()
    assert check.ok and check.detail == f"@hde_sandbox_{bot_id}_bot"
    assert calls(sim_url)[-1]["path"].endswith("/getMe")


async def test_register_webhook_sends_url_secret_and_update_types(sim_url, http):
    bot, bot_id = await new_bot(sim_url, http)
    result = await bot.register_webhook("https://hde.example.com/webhooks/tg")
    assert result.ok
    assert calls(sim_url)[-1]["json"] == {
        "url": "https://hde.example.com/webhooks/tg",
        "secret_token": "hook-secret",
        "allowed_updates": ["message", "my_chat_member"],
    }
    info = httpx.post(f"{sim_url}/bot{bot.config.credentials['bot_token']}/getWebhookInfo")
    assert info.json()["result"]["url"] == "https://hde.example.com/webhooks/tg"


async def test_register_webhook_without_a_secret_refuses_and_calls_nothing(sim_url, http):
    bot = adapter(sim_url, f"{9000 + serial()}:NO-SECRET-BOT", secret=None, http=http)
    before = len(calls(sim_url))
    result = await bot.register_webhook("https://hde.example.com/webhooks/tg")
    assert not result.ok and len(calls(sim_url)) == before


async def test_long_polling_confirms_offsets_and_conflicts_with_a_webhook(sim_url, http):
    bot, bot_id = await new_bot(sim_url, http)
    control(sim_url, f"users/{bot_id}1/write", bot_id=bot_id, text="/start")
    control(sim_url, f"users/{bot_id}1/write", bot_id=bot_id, text="вопрос")
    first = await bot.get_updates(None, timeout=0)
    assert [u["message"]["text"] for u in first.updates] == ["/start", "вопрос"]
    last_id = first.updates[-1]["update_id"]
    assert (await bot.get_updates(last_id + 1, timeout=0)).updates == []  # confirmed
    await bot.register_webhook("http://127.0.0.1:9/webhooks/tg")
    conflict = await bot.get_updates(None, timeout=0)
    assert conflict.error is not None and conflict.error.code == 409
    assert (await bot.delete_webhook()).ok
    assert (await bot.get_updates(None, timeout=0)).error is None


# -- webhooks: verification and parsing ---------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "secret", "ok"),
    [
        ({"X-Telegram-Bot-Api-Secret-Token": "hook-secret"}, "hook-secret", True),
        ({"X-Telegram-Bot-Api-Secret-Token": "wrong"}, "hook-secret", False),
        ({}, "hook-secret", False),
        ({"X-Telegram-Bot-Api-Secret-Token": ""}, None, False),  # no secret: refuse all
    ],
)
def test_webhook_secret_is_checked(headers, secret, ok):
    request = hook(fixture("telegram", "update_start"), **headers)
    assert adapter(None, secret=secret).verify_webhook(request) is ok


def test_start_message_is_an_inbound_message():
    (event,) = parse_update(fixture("telegram", "update_start"))
    assert isinstance(event, ev.InboundMessage)
    assert event.address == "1111111"
    assert event.provider_message_id == "1111111:1365"
    assert (event.text, event.display_name, event.username) == ("/start", "Ann Lee", "Ann_Lee")
    assert event.at.timestamp() == 1795660000


def test_a_shared_contact_gives_the_phone():
    (event,) = parse_update(fixture("telegram", "update_contact"))
    assert isinstance(event, ev.InboundMessage)
    assert event.phone == "+79123456789" and event.text == "[contact]"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("update_photo", [("InboundMessage", "1111111", "screenshot of the error")]),
        ("update_blocked", [("OptedOut", "1111111", "blocked the bot")]),
        ("update_unblocked", [("Subscribed", "1111111", None)]),
        ("update_group_message", []),
        ("update_edited", []),
    ],
)
def test_updates_in_our_vocabulary(name, expected):
    events = parse_update(fixture("telegram", name))
    got = [
        (
            type(e).__name__,
            e.address,
            getattr(e, "text", None) or getattr(e, "reason", None),
        )
        for e in events
    ]
    assert got == expected


def test_a_body_that_is_not_an_update_is_malformed():
    with pytest.raises(ValueError):
        adapter(None).parse_webhook(hook({"hello": "world"}))
