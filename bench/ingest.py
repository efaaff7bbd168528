"""Inbound ingestion through one real receiver process on PostgreSQL (issue 17, "make bench").

One ``hde webhooks`` process (uvicorn, the real webhook app) on a free port, a Telegram
channel provisioned with its webhook secret, and signed Telegram updates in the documented
shape (a client's text message, ``X-Telegram-Bot-Api-Secret-Token``) posted over HTTP with
httpx, ``HDE_BENCH_INGEST_CONCURRENCY`` (default 32) at a time: webhooks/s over
``HDE_BENCH_INGEST_COUNT`` (default 3,000) updates from as many clients, each recorded and
attached to a ticket (the run checks every one is in ``inbound_messages``). Target ≥ 500/s
per receiver process.

Naive baseline, measured in the same run against the same process: one request at a time
(the next sent when the previous is answered). Peak memory is the receiver's RSS after the
run; the note gives the receiver's CPU per webhook in the concurrent phase. Run: ``make bench BENCH_ARGS=ingest`` with ``HDE_BENCH_POSTGRES_URL`` (or
``HDE_TEST_POSTGRES_URL``) set.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
from sqlalchemy import func, select

from bench.common import Figure
from bench.dispatch import PG, SECRET, database
from hde_core.db.models import InboundMessage
from hde_core.services.authz import SYSTEM
from hde_core.services.provision import provision

NAME = "ingest"
COUNT = int(os.environ.get("HDE_BENCH_INGEST_COUNT", "3000"))
NAIVE_COUNT = max(1, COUNT // 6)
CONCURRENCY = int(os.environ.get("HDE_BENCH_INGEST_CONCURRENCY", "32"))
TARGET = 500.0
HOOK_SECRET = "bench-hook-secret"
CHANNEL = f"""
[[channels]]
name = "tg"
kind = "telegram"
api_base = "http://127.0.0.1:9/unused"
credentials = {{ bot_token = "123456:TEST-token_abcdef" }}
webhook_secret = "{HOOK_SECRET}"
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def update(n: int) -> bytes:
    """A client's text message, as Telegram posts it (one client per update)."""
    chat = 5_000_000 + n
    who = {"id": chat, "is_bot": False, "first_name": "Client", "last_name": str(n)}
    return json.dumps(
        {
            "update_id": 1_000_000 + n,
            "message": {
                "message_id": 10_000 + n,
                "date": int(time.time()),
                "from": who,
                "chat": {**who, "type": "private"},
                "text": f"Hello, this is client {n}",
            },
        }
    ).encode()


HEADERS = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": HOOK_SECRET}


async def concurrent(url: str, numbers: range) -> tuple[float, int]:
    """Webhooks/s with ``CONCURRENCY`` in flight, and how many were answered 200."""
    queue = iter(numbers)
    ok = [0]

    async def lane(client: httpx.AsyncClient) -> None:
        for n in queue:
            response = await client.post(url, content=update(n), headers=HEADERS)
            ok[0] += response.status_code == 200

    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        started = time.perf_counter()
        await asyncio.gather(*(lane(client) for _ in range(CONCURRENCY)))
        elapsed = time.perf_counter() - started
    return len(numbers) / elapsed, ok[0]


def one_at_a_time(url: str, numbers: range) -> tuple[float, int]:
    ok = 0
    with httpx.Client(timeout=60) as client:
        started = time.perf_counter()
        for n in numbers:
            ok += client.post(url, content=update(n), headers=HEADERS).status_code == 200
        elapsed = time.perf_counter() - started
    return len(numbers) / elapsed, ok


def receiver(url: str, data: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "HDE_DATABASE_URL": url, "HDE_SECRET_KEY": SECRET}
    env["HDE_DATA_DIR"] = str(data)
    return subprocess.Popen(
        [sys.executable, "-m", "hde_core", "webhooks", "--port", str(port)], env=env
    )


def wait_ready(base: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the receiver exited with {proc.returncode}")
        try:
            httpx.get(f"{base}/webhooks/tg", timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise SystemExit("the receiver did not start within 60 s")


def run(argv: list[str]) -> list[Figure]:
    if not PG:
        raise SystemExit("ingest needs HDE_BENCH_POSTGRES_URL (or HDE_TEST_POSTGRES_URL)")
    with database("postgresql") as (app, url, data):
        path = data / "tg.toml"
        path.write_text(CHANNEL, encoding="utf-8")
        provision(app, path, actor=SYSTEM)
        port = free_port()
        proc = receiver(url, data, port)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_ready(base, proc)
            hook = f"{base}/webhooks/tg"
            asyncio.run(concurrent(hook, range(-200, 0)))  # warm-up: connections, caches
            watched = psutil.Process(proc.pid)
            before = watched.cpu_times()
            rate, ok = asyncio.run(concurrent(hook, range(COUNT)))
            after = watched.cpu_times()
            cpu_ms = (after.user - before.user + after.system - before.system) * 1000 / COUNT
            naive, naive_ok = one_at_a_time(hook, range(COUNT, COUNT + NAIVE_COUNT))
            rss = psutil.Process(proc.pid).memory_info().rss / 1024 / 1024
        finally:
            proc.terminate()
            proc.wait(30)
        with app.db.reader() as s:
            recorded = s.scalar(select(func.count()).select_from(InboundMessage)) or 0
    expected = COUNT + NAIVE_COUNT + 200
    note = (
        f"one receiver process, PostgreSQL, {COUNT:,} signed Telegram updates, "
        f"{CONCURRENCY} in flight; receiver CPU {cpu_ms:.1f} ms/webhook; answered 200: {ok + naive_ok:,}/{COUNT + NAIVE_COUNT:,}; "
        f"recorded {recorded:,}/{expected:,}; baseline: one request at a time "
        f"({NAIVE_COUNT:,} updates)"
    )
    complete = ok == COUNT and naive_ok == NAIVE_COUNT and recorded == expected
    return [
        Figure(
            NAME,
            "inbound webhooks/s",
            rate,
            "webhooks/s",
            baseline=naive,
            target=f"≥ {TARGET:g}/s",
            ok=rate >= TARGET and complete,
            peak_rss_mb=rss,
            note=note,
        )
    ]
