"""The dispatcher's HTTP client sends what plain ``httpx`` sends and hands the adapters the
same responses and the same exceptions — over real sockets to a loopback server."""

from __future__ import annotations

import asyncio
import gzip
import json

import httpx
import pytest
from aiohttp import web

from hde_core.channels.base import new_http_client
from hde_core.dispatch.transport import DispatchClient
from hde_core.sandbox.smtp_sink import free_port


class Recorder:
    def __init__(self) -> None:
        self.seen: list[dict[str, object]] = []
        self.delay = 0.0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.seen.append(
            {
                "method": request.method,
                "path": request.path,
                "query": sorted(request.query.items()),
                "body": body,
                "content-type": request.headers.get("Content-Type"),
                "user-agent": request.headers.get("User-Agent"),
                "x-custom": request.headers.get("X-Custom"),
                "authorization": request.headers.get("Authorization"),
            }
        )
        if self.delay:
            await asyncio.sleep(self.delay)
        payload = json.dumps({"ok": True, "echo": body.decode("utf-8", "replace")}).encode()
        if request.path.endswith("/gzip"):
            return web.Response(
                body=gzip.compress(payload),
                status=201,
                headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
            )
        return web.Response(
            body=payload,
            status=429 if request.path.endswith("/busy") else 200,
            headers={"Content-Type": "application/json", "Retry-After": "7"},
        )


@pytest.fixture
def loopback():
    """A loopback HTTP server in its own event loop thread."""
    import threading

    recorder = Recorder()
    loop = asyncio.new_event_loop()
    port = free_port()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", recorder.handle)
    runner = web.AppRunner(app)
    ready = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    ready.wait(10)
    yield recorder, f"http://127.0.0.1:{port}"
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


async def _both(call):
    """The same call through plain httpx and through the dispatcher's client."""
    plain = new_http_client()
    fast = new_http_client(DispatchClient, limit=10)
    try:
        return await call(plain), await call(fast)
    finally:
        await plain.aclose()
        await fast.aclose()


def test_the_server_sees_the_same_request_and_the_adapter_the_same_response(loopback):
    recorder, url = loopback

    async def call(client):
        response = await client.request(
            "POST",
            f"{url}/bot1:tok/sendMessage",
            json={"chat_id": 42, "text": "Здравствуйте, Анна! ✓"},
            headers={"X-Custom": "yes", "Authorization": "Bearer t"},
            params={"page": 2, "q": "а б"},
        )
        return response.status_code, response.headers.get("retry-after"), response.json()

    plain, fast = asyncio.run(_both(call))
    assert fast == plain
    assert plain[2]["ok"] is True
    sent_plain, sent_fast = recorder.seen
    assert sent_fast == sent_plain
    assert json.loads(sent_fast["body"]) == {"chat_id": 42, "text": "Здравствуйте, Анна! ✓"}
    assert sent_fast["content-type"] == "application/json"
    assert sent_fast["user-agent"].startswith("HDE-Outreach/")
    assert sent_fast["query"] == [("page", "2"), ("q", "а б")]


def test_status_codes_headers_and_compressed_bodies_arrive_alike(loopback):
    _, url = loopback

    async def call(client):
        busy = await client.post(f"{url}/busy", json={"a": 1})
        packed = await client.get(f"{url}/gzip")
        return (busy.status_code, busy.headers["retry-after"]), (
            packed.status_code,
            packed.json()["ok"],
        )

    plain, fast = asyncio.run(_both(call))
    assert fast == plain == ((429, "7"), (201, True))


def test_forms_take_httpx_own_path_and_still_arrive(loopback):
    recorder, url = loopback

    async def call(client):
        response = await client.post(f"{url}/form", data={"name": "Анна"})
        return response.status_code

    assert asyncio.run(_both(call)) == (200, 200)
    assert recorder.seen[0]["body"] == recorder.seen[1]["body"]
    assert recorder.seen[1]["content-type"] == "application/x-www-form-urlencoded"


@pytest.mark.process
def test_no_answer_in_time_and_a_closed_port_raise_what_adapters_map_to_transient(loopback):
    recorder, url = loopback
    recorder.delay = 2.0

    async def slow():
        async with new_http_client(DispatchClient, timeout=httpx.Timeout(0.3)) as client:
            await client.post(f"{url}/slow", json={})

    with pytest.raises(httpx.ReadTimeout) as timeout:
        asyncio.run(slow())
    assert timeout.value.request.url.path == "/slow"

    async def refused():
        async with new_http_client(DispatchClient) as client:
            await client.post(f"http://127.0.0.1:{free_port()}/x", json={})

    with pytest.raises(httpx.ConnectError):
        asyncio.run(refused())
