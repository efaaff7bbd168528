"""The Telegram, Viber and Green-API simulators as a sandbox needs them: webhooks in order,
signed, retried when the receiver fails; faults on demand; simulated clients who write,
answer and opt out. A recording receiver on a real port stands in for ours."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from hde_core.channels.base import ChannelConfig, WebhookRequest
from hde_core.channels.greenapi import GreenApiAdapter
from hde_core.channels.telegram import TelegramAdapter
from hde_core.channels.viber import ViberAdapter
from hde_core.domain.channels import ChannelKind, Provider
from hde_core.sandbox.server import HttpServer
from hde_core.sandbox.sim_greenapi import GreenApiSimulator
from hde_core.sandbox.sim_telegram import TelegramSimulator
from hde_core.sandbox.sim_viber import ViberSimulator
from hde_core.sandbox.smtp_sink import free_port
from tests.channels.messengers import control, outgoing, running, wait_until


class Receiver:
    """Records every POST; answers 500 to the first ``fail`` of them."""

    def __init__(self) -> None:
        self.hits: list[tuple[dict[str, str], bytes]] = []
        self.fail = 0

    async def handle(self, request: Request) -> JSONResponse:
        body = await request.body()
        self.hits.append(({k.lower(): v for k, v in request.headers.items()}, body))
        if self.fail > 0:
            self.fail -= 1
            return JSONResponse({"error": "try later"}, status_code=500)
        return JSONResponse({"ok": True})

    def bodies(self) -> list[dict]:
        return [json.loads(b) for _, b in self.hits]


@pytest.fixture
def receiver():
    rec = Receiver()
    server = HttpServer(
        Starlette(routes=[Route("/hook", rec.handle, methods=["POST"])]), "127.0.0.1", free_port()
    ).start()
    rec.url = f"{server.url}/hook"
    yield rec
    server.stop()


def tg_config(url, token="321:SIM-TOKEN-abcdef", secret="sim-secret"):
    return ChannelConfig(
        1, "tg", ChannelKind.TELEGRAM, Provider.TELEGRAM, url, {"bot_token": token}, secret
    )


def run(coro):
    async def with_client():
        async with httpx.AsyncClient() as http:
            return await coro(http)

    return asyncio.run(with_client())


def test_telegram_updates_arrive_in_order_with_the_secret_and_are_retried(receiver):
    with running(TelegramSimulator()) as url:
        control(url, "config", webhook_retry_s=0.05)
        assert run(lambda h: TelegramAdapter(tg_config(url), h).register_webhook(receiver.url)).ok
        receiver.fail = 2
        for text in ("/start", "один", "два"):
            control(url, "users/77/write", text=text)
        assert wait_until(lambda: len(receiver.bodies()) == 5)  # 2 refused + 3 delivered
        texts = [b["message"]["text"] for b in receiver.bodies()]
        assert texts == ["/start", "/start", "/start", "один", "два"]
        assert {h["x-telegram-bot-api-secret-token"] for h, _ in receiver.hits} == {"sim-secret"}
        ids = [b["update_id"] for b in receiver.bodies()[2:]]
        assert ids == sorted(ids) and len(set(ids)) == 3


def test_telegram_gives_up_on_an_update_after_the_configured_attempts(receiver):
    with running(TelegramSimulator()) as url:
        control(url, "config", webhook_retry_s=0.02, webhook_attempts=3)
        run(lambda h: TelegramAdapter(tg_config(url), h).register_webhook(receiver.url))
        receiver.fail = 3
        control(url, "users/78/write", text="lost")
        control(url, "users/78/write", text="kept")
        assert wait_until(lambda: len(receiver.hits) == 4)
        assert [b["message"]["text"] for b in receiver.bodies()] == ["lost"] * 3 + ["kept"]


def test_telegram_long_polling_returns_as_soon_as_an_update_arrives():
    with running(TelegramSimulator()) as url:

        async def scenario(http):
            bot = TelegramAdapter(tg_config(url), http)
            assert (await bot.check_connection()).ok
            started = time.monotonic()
            poll = asyncio.ensure_future(bot.get_updates(None, timeout=10))
            await asyncio.sleep(0.2)
            await http.post(f"{url}/_control/users/79/write", json={"text": "/start"})
            polled = await poll
            return polled, time.monotonic() - started

        polled, took = run(scenario)
        assert [u["message"]["text"] for u in polled.updates] == ["/start"]
        assert took < 5


def test_a_client_answers_and_may_block_the_bot(receiver):
    with running(TelegramSimulator()) as url:
        control(url, "config", reply_probability=1.0, reply_delay_s=0.05)
        run(lambda h: TelegramAdapter(tg_config(url), h).register_webhook(receiver.url))
        control(url, "users/80/write", text="/start")
        run(lambda h: TelegramAdapter(tg_config(url), h).send(outgoing("80", "Ваш заказ готов")))
        assert wait_until(lambda: len(receiver.hits) == 2)
        assert receiver.bodies()[1]["message"]["chat"]["id"] == 80  # the client's reply
        control(url, "config", reply_probability=0, opt_out_probability=1.0)
        run(lambda h: TelegramAdapter(tg_config(url), h).send(outgoing("80", "Ещё")))
        assert wait_until(lambda: len(receiver.hits) == 3)
        assert receiver.bodies()[2]["my_chat_member"]["new_chat_member"]["status"] == "kicked"
        blocked = run(lambda h: TelegramAdapter(tg_config(url), h).send(outgoing("80", "?")))
        assert "blocked by the user" in blocked.text


def test_simulated_clients_write_on_their_own(receiver):
    with running(TelegramSimulator()) as url:
        control(url, "config", chatter_interval_s=0.02, seed=7)
        run(lambda h: TelegramAdapter(tg_config(url), h).register_webhook(receiver.url))
        assert wait_until(lambda: len(receiver.hits) >= 6)
        control(url, "config", chatter_interval_s=0)
        first_by_user: dict[int, str] = {}
        for body in receiver.bodies():
            message = body.get("message")
            if message:
                first_by_user.setdefault(message["chat"]["id"], message["text"])
        assert set(first_by_user.values()) == {"/start"}  # everyone starts the bot first


def test_viber_checks_the_webhook_and_signs_every_callback(receiver):
    token = "5fdbb2493ae7ddc2-cd8869c327e2c592-60fd2dddaa295531"
    config = ChannelConfig(
        2, "vb", ChannelKind.VIBER, Provider.VIBER, None, {"auth_token": token}, None, {}
    )
    with running(ViberSimulator()) as url:
        config = ChannelConfig(2, "vb", ChannelKind.VIBER, Provider.VIBER, url, config.credentials)
        receiver.fail = 1
        refused = run(lambda h: ViberAdapter(config, h).register_webhook(receiver.url))
        assert not refused.ok and "invalidUrl" in refused.detail
        assert run(lambda h: ViberAdapter(config, h).register_webhook(receiver.url)).ok
        control(url, "config", status_delay_s=0.02)
        control(url, "users/vUser0001==/write", text="Привет")
        run(lambda h: ViberAdapter(config, h).send(outgoing("vUser0001==", "Ответ")))
        assert wait_until(
            lambda: [b["event"] for b in receiver.bodies()][-3:] == ["message", "delivered", "seen"]
        )
        adapter = ViberAdapter(config)
        for headers, body in receiver.hits[1:]:
            assert adapter.verify_webhook(WebhookRequest("POST", headers, {}, body))


def test_green_api_keeps_messages_while_the_phone_is_not_linked(receiver):
    with running(GreenApiSimulator()) as url:
        config = ChannelConfig(
            3,
            "wa",
            ChannelKind.WHATSAPP,
            Provider.GREEN_API,
            url,
            {"id_instance": "1103000001", "api_token": "tok-1103"},
            "wa-secret",
        )
        control(url, "config", status_delay_s=0.02)
        assert run(lambda h: GreenApiAdapter(config, h).register_webhook(receiver.url)).ok
        control(url, "instances/1103000001/state", state="notAuthorized")
        sent = run(lambda h: GreenApiAdapter(config, h).send(outgoing("+79123456789")))
        time.sleep(0.2)
        assert [b["typeWebhook"] for b in receiver.bodies()] == ["stateInstanceChanged"]
        control(url, "instances/1103000001/state", state="authorized")
        assert wait_until(lambda: len(receiver.bodies()) == 5)
        statuses = [b.get("status") for b in receiver.bodies()[2:]]
        assert statuses == ["sent", "delivered", "read"]
        chat, id_message = sent.provider_message_id.split("_")
        assert receiver.bodies()[-1]["idMessage"] == id_message
        assert {h.get("authorization") for h, _ in receiver.hits} == {"Bearer wa-secret"}


def test_green_api_no_account_numbers_get_the_no_account_status(receiver):
    with running(GreenApiSimulator()) as url:
        config = ChannelConfig(
            3,
            "wa",
            ChannelKind.WHATSAPP,
            Provider.GREEN_API,
            url,
            {"id_instance": "1103000002", "api_token": "tok"},
            "s",
        )
        run(lambda h: GreenApiAdapter(config, h).register_webhook(receiver.url))
        control(url, "contacts", phone="+79120000000", whatsapp=False)
        run(lambda h: GreenApiAdapter(config, h).send(outgoing("+79120000000")))
        assert wait_until(lambda: receiver.hits)
        assert receiver.bodies()[0]["status"] == "noAccount"


@pytest.mark.parametrize("patch", [{"no_such_setting": 1}, {"failure_rate": 2}, {"latency_ms": -1}])
def test_the_control_api_refuses_bad_configuration(patch):
    with running(ViberSimulator()) as url:
        answer = httpx.post(f"{url}/_control/config", json=patch)
        assert answer.status_code == 400
        assert httpx.get(f"{url}/_control/config").json()["failure_rate"] == 0


def test_latency_and_failure_rate_apply_to_api_calls():
    with running(TelegramSimulator()) as url:
        control(url, "config", latency_ms=150)
        started = time.monotonic()
        assert httpx.post(f"{url}/bot5:ABCDEFGHIJ/getMe").status_code == 200
        assert time.monotonic() - started >= 0.15
        control(url, "config", latency_ms=0, failure_rate=1.0)
        answer = httpx.post(f"{url}/bot5:ABCDEFGHIJ/getMe")
        assert answer.status_code == 500 and answer.json()["ok"] is False


def test_a_wrong_simulator_setting_is_a_plain_configuration_error(monkeypatch):
    from hde_core.errors import ConfigError
    from hde_core.sandbox.sim_common import load_config

    monkeypatch.setenv("HDE_SIM_FAILURE_RATE", "often")
    with pytest.raises(ConfigError) as exc:
        TelegramSimulator()
    assert "HDE_SIM_FAILURE_RATE" in exc.value.message("en")
    monkeypatch.setenv("HDE_SIM_FAILURE_RATE", "0.25")
    assert load_config().failure_rate == 0.25
