"""A loopback stand-in for Telegram's ``sendMessage``, for dispatcher tests and benchmarks.

(Unlike the sandbox's simulators it models no conversation: it answers as fast, or as
slowly, as told, and records when each call arrived.)

Each call's arrival time is the kernel's receive time of the request (``SO_TIMESTAMPNS``),
not the instant this process got round to reading it: on a loaded machine a starved
fake would otherwise stamp a backlog of requests with one time and invent bursts.

It answers exactly what the Bot API answers (``{"ok":true,"result":{…}}`` or
``{"ok":false,"error_code":…,"description":…,"parameters":{"retry_after":…}}``), so
the real :class:`~hde_core.channels.telegram.TelegramAdapter` talks to it over real
sockets. A minimal HTTP/1.1 server on asyncio's selector (keep-alive, Content-Length bodies):
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
import socket
import struct
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
    at: float  # when the request arrived: the kernel's receive time (epoch seconds)
    answer: str


#: Linux's SO_TIMESTAMPNS (also the SCM type of its control message); not in ``socket``.
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)


class _Conn:
    """One client connection: what has been read and not parsed, what waits to be sent."""

    __slots__ = ("buffer", "closed", "out", "sock", "writing")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()
        self.out = bytearray()
        self.closed = False
        self.writing = False


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
        self._conns: set[_Conn] = set()
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

    def _answer(self, body: dict[str, Any], at: float) -> tuple[str, int, dict[str, Any]]:
        chat_id = int(body.get("chat_id", 0))
        script = self._scripts.get(chat_id)
        answer = script.popleft() if script else self.default
        self.calls.append(Call(chat_id, str(body.get("text", "")), at, answer))
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

    def _request(self, head: bytes, raw: bytes, at: float) -> tuple[bytes, float]:
        """The answer to one request and how long to wait before giving it."""
        path = head.split(b" ", 2)[1]
        payload: dict[str, Any]
        delay = 0.0
        if head.startswith(b"GET /_calls"):  # control: what arrived (subprocess mode)
            status, payload = 200, {"calls": [c.__dict__ for c in self.calls]}
        elif not path.endswith(b"/sendMessage"):  # getMe, webhooks: a healthy bot
            status = 200
            payload = {"ok": True, "result": {"id": 1, "is_bot": True, "username": "fake_bot"}}
        else:
            answer, status, payload = self._answer(json.loads(raw or b"{}"), at)
            if answer.startswith("sleep"):
                delay = float(answer.partition(":")[2])
            elif self.latency or self.jitter:
                delay = max(0.0, self.latency + random.uniform(-self.jitter, self.jitter))
        data = json.dumps(payload).encode()
        return (
            b"HTTP/1.1 %d X\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
            % (status, len(data))
            + data,
            delay,
        )

    # A connection is read with ``recvmsg`` so that each request carries the kernel's
    # receive time (SO_TIMESTAMPNS): when it reached this "provider", however late a loaded
    # machine lets this process read it — as a real provider on another machine would see.

    def _accept(self, listener: socket.socket) -> None:
        assert self._loop is not None
        while True:
            try:
                sock, _ = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            conn = _Conn(sock)
            self._conns.add(conn)
            self._loop.add_reader(sock.fileno(), self._readable, conn)

    def _readable(self, conn: _Conn) -> None:
        try:
            data, ancillary, _, _ = conn.sock.recvmsg(1 << 16, socket.CMSG_SPACE(16))
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close(conn)
            return
        if not data:
            self._close(conn)
            return
        at = time.time()
        for level, kind, raw in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(raw) >= 16:
                sec, nsec = struct.unpack("qq", raw[:16])
                at = sec + nsec / 1e9
        conn.buffer += data
        while True:
            end = conn.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(conn.buffer[: end + 4])
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            if len(conn.buffer) < end + 4 + length:
                return
            raw = bytes(conn.buffer[end + 4 : end + 4 + length])
            del conn.buffer[: end + 4 + length]
            answer, delay = self._request(head, raw, at)
            assert self._loop is not None
            if delay:
                self._loop.call_later(delay, self._write, conn, answer)
            else:
                self._write(conn, answer)

    def _write(self, conn: _Conn, data: bytes) -> None:
        if conn.closed:
            return
        conn.out += data
        self._flush(conn)

    def _flush(self, conn: _Conn) -> None:
        assert self._loop is not None
        try:
            sent = conn.sock.send(conn.out)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self._close(conn)
            return
        del conn.out[:sent]
        if conn.out and not conn.writing:
            conn.writing = True
            self._loop.add_writer(conn.sock.fileno(), self._flush, conn)
        elif not conn.out and conn.writing:
            conn.writing = False
            self._loop.remove_writer(conn.sock.fileno())

    def _close(self, conn: _Conn) -> None:
        if conn.closed:
            return
        conn.closed = True
        assert self._loop is not None
        with contextlib.suppress(Exception):
            self._loop.remove_reader(conn.sock.fileno())
            if conn.writing:
                self._loop.remove_writer(conn.sock.fileno())
        conn.sock.close()
        self._conns.discard(conn)

    # -- running it -------------------------------------------------------------------------

    async def serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(1024)
        listener.setblocking(False)
        self.port = listener.getsockname()[1]
        self._loop.add_reader(listener.fileno(), self._accept, listener)
        self._ready.set()
        try:
            await asyncio.Event().wait()  # until cancelled
        finally:
            self._loop.remove_reader(listener.fileno())
            listener.close()
            for conn in list(self._conns):
                self._close(conn)

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
