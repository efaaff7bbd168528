"""A loopback stand-in for Telegram's ``sendMessage``, for dispatcher tests and benchmarks.

(Unlike the sandbox's simulators it models no conversation: it answers as fast, or as
slowly, as told, and records when each call arrived.)

It answers exactly what the Bot API answers (``{"ok":true,"result":{…}}`` or
``{"ok":false,"error_code":…,"description":…,"parameters":{"retry_after":…}}``), so
the real :class:`~hde_core.channels.telegram.TelegramAdapter` talks to it over real
sockets. A minimal HTTP/1.1 server on asyncio (keep-alive, Content-Length bodies):
fast enough that a benchmark measures the dispatcher, not the fake.

Behaviour per chat id is scripted: ``fake.script(chat_id, "500", "429:2", "ok")``
answers the first three calls for that chat in that order (then ``default``).
Answers: ``ok``, ``500``, ``429:SECONDS``, ``403`` (blocked), ``400`` (chat not
found), ``401`` (token revoked), ``sleep:SECONDS`` (answers ok after that long).
Every call is kept in :attr:`calls` with its arrival time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import subprocess
import sys
import threading
import time
import urllib.request
from collections import deque
from dataclasses import dataclass
from typing import Any

ANSWERS: dict[str, tuple[int, dict[str, Any]]] = {
    "500": (500, {"ok": False, "error_code": 500, "description": "Internal Server Error"}),
    "403": (
        403,
        {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"},
    ),
    "400": (400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}),
    "401": (401, {"ok": False, "error_code": 401, "description": "Unauthorized"}),
}


@dataclass(frozen=True)
class Call:
    chat_id: int
    text: str
    at: float  # time.time() when the request arrived
    answer: str


class FakeTelegram:
    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, latency: float = 0.0, jitter: float = 0.0
    ) -> None:
        self.host, self.port = host, port
        #: Seconds before each answer: ``latency`` ± up to ``jitter`` (uniform), like a real
        #: provider's 100–300 ms rather than a constant.
        self.latency = latency
        self.jitter = jitter
        self.default = "ok"
        self.calls: list[Call] = []
        self._scripts: dict[int, deque[str]] = {}
        self._next_id = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def script(self, chat_id: int, *answers: str) -> None:
        self._scripts.setdefault(int(chat_id), deque()).extend(answers)

    def delivered(self) -> list[Call]:
        """Calls answered ``ok``: what the bot actually sent."""
        return [c for c in list(self.calls) if c.answer in ("ok",) or c.answer.startswith("sleep")]

    # -- the HTTP side ----------------------------------------------------------------------

    def _answer(self, body: dict[str, Any]) -> tuple[str, int, dict[str, Any]]:
        chat_id = int(body.get("chat_id", 0))
        script = self._scripts.get(chat_id)
        answer = script.popleft() if script else self.default
        self.calls.append(Call(chat_id, str(body.get("text", "")), time.time(), answer))
        if answer == "ok" or answer.startswith("sleep"):
            self._next_id += 1
            return (
                answer,
                200,
                {
                    "ok": True,
                    "result": {
                        "message_id": self._next_id,
                        "chat": {"id": chat_id, "type": "private"},
                        "date": int(time.time()),
                        "text": body.get("text", ""),
                    },
                },
            )
        if answer.startswith("429"):
            after = int(answer.partition(":")[2] or 1)
            return (
                answer,
                429,
                {
                    "ok": False,
                    "error_code": 429,
                    "description": f"Too Many Requests: retry after {after}",
                    "parameters": {"retry_after": after},
                },
            )
        status, payload = ANSWERS[answer]
        return answer, status, payload

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value.strip())
                raw = await reader.readexactly(length) if length else b"{}"
                path = head.split(b" ", 2)[1]
                payload: dict[str, Any]
                if head.startswith(b"GET /_calls"):  # control: what arrived (subprocess mode)
                    status, payload = 200, {"calls": [c.__dict__ for c in self.calls]}
                elif not path.endswith(b"/sendMessage"):  # getMe, webhooks: a healthy bot
                    status = 200
                    payload = {
                        "ok": True,
                        "result": {"id": 1, "is_bot": True, "username": "fake_bot"},
                    }
                else:
                    answer, status, payload = self._answer(json.loads(raw or b"{}"))
                    if answer.startswith("sleep"):
                        await asyncio.sleep(float(answer.partition(":")[2]))
                    elif self.latency or self.jitter:
                        delay = self.latency + random.uniform(-self.jitter, self.jitter)
                        await asyncio.sleep(max(0.0, delay))
                data = json.dumps(payload).encode()
                writer.write(
                    b"HTTP/1.1 %d X\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
                    % (status, len(data))
                    + data
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:  # the server is stopping
            pass
        finally:
            writer.close()

    # -- running it -------------------------------------------------------------------------

    async def serve(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port, backlog=1024)
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        async with self._server:
            await self._server.serve_forever()

    def start(self) -> FakeTelegram:
        def run() -> None:
            self._loop = asyncio.new_event_loop()
            try:
                self._loop.run_until_complete(self.serve())
            except asyncio.CancelledError:
                pass
            finally:
                self._loop.close()

        self._thread = threading.Thread(target=run, name="fake-telegram", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fake Telegram did not start")
        return self

    def _shutdown(self) -> None:
        for task in asyncio.all_tasks():
            task.cancel()

    def stop(self) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._shutdown)
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> FakeTelegram:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class FakeTelegramProcess:
    """The same fake in its own process (``python -m hde_core.sandbox.fake_telegram``), so a
    busy dispatcher under test does not share a GIL with the provider it talks to.
    ``nice``: a negative value (root only) keeps a loaded machine from delaying the fake's
    own reading of requests, so arrival times are the dispatcher's, not the fake's."""

    def __init__(self, latency: float = 0.0, jitter: float = 0.0, nice: int = 0) -> None:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.latency = latency
        self.jitter = jitter
        self.nice = nice
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeTelegramProcess:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hde_core.sandbox.fake_telegram",
                str(self.port),
                str(self.latency),
                str(self.jitter),
            ],
            preexec_fn=(lambda: os.nice(self.nice)) if self.nice else None,  # noqa: PLW1509
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/_calls", timeout=1):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("fake Telegram process did not start")

    @property
    def calls(self) -> list[Call]:
        with urllib.request.urlopen(self.url + "/_calls", timeout=60) as r:
            return [Call(**c) for c in json.loads(r.read())["calls"]]

    def delivered(self) -> list[Call]:
        return [c for c in self.calls if c.answer == "ok" or c.answer.startswith("sleep")]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def __enter__(self) -> FakeTelegramProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


if __name__ == "__main__":
    server = FakeTelegram(
        port=int(sys.argv[1]),
        latency=float(sys.argv[2]),
        jitter=float(sys.argv[3]) if len(sys.argv) > 3 else 0.0,
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(server.serve())
