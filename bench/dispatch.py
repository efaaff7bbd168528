"""Dispatcher and bulk-sending benchmarks (issue 5), each figure beside a naive baseline.

- ``throughput``: N messages (default 100,000; ``HDE_BENCH_DISPATCH_N``) through one
  ``hde worker`` process to a loopback Telegram fake in its own process that answers
  after ``HDE_BENCH_LATENCY_MS`` (default 20 ms, a fast real provider), no rate limit;
  baseline: a synchronous loop, one HTTP call and one commit per message.
- rate adherence under real conditions (provider latency, a loaded machine) is its own
  benchmark: :mod:`bench.dispatch_rate`.
- ``backlog``: time to claim a batch of 100 with 10,000 and with 1,000,000 queued.
- ``bulk``: ``hde send`` creating 100,000 tickets with their messages
  (``HDE_BENCH_BULK_ROWS``); baseline: the single-ticket service, one row at a time.

SQLite always; PostgreSQL too when ``HDE_BENCH_POSTGRES_URL`` (or ``HDE_TEST_POSTGRES_URL``)
is set. Run: ``make bench BENCH_ARGS=dispatch``.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from bench.common import Figure
from hde_core.bootstrap import App, bootstrap
from hde_core.config import Settings
from hde_core.db.migrate import upgrade
from hde_core.db.models import Message, WorkerHeartbeat
from hde_core.db.session import Database
from hde_core.dispatch.claim import claim_channel, new_worker_id
from hde_core.sandbox.fake_telegram import FakeTelegramProcess
from hde_core.sandbox.loadgen import enqueue, provision_telegram
from hde_core.services import campaigns as svc
from hde_core.services.authz import SystemActor
from hde_core.services.provision import provision

BENCH = SystemActor("bench")

N = int(os.environ.get("HDE_BENCH_DISPATCH_N", "100000"))
LATENCY = float(os.environ.get("HDE_BENCH_LATENCY_MS", "20")) / 1000
BULK_ROWS = int(os.environ.get("HDE_BENCH_BULK_ROWS", "100000"))
BACKLOG = int(os.environ.get("HDE_BENCH_BACKLOG", "1000000"))
SECRET = "bench-secret-key-0123456789abcdef"
PG = os.environ.get("HDE_BENCH_POSTGRES_URL") or os.environ.get("HDE_TEST_POSTGRES_URL", "")
NAME = "dispatch"


@contextmanager
def database(kind: str) -> Iterator[tuple[App, str, Path]]:
    """A fresh migrated database of that kind, dropped afterwards."""
    with tempfile.TemporaryDirectory(prefix="hde-bench-") as tmp:
        data = Path(tmp)
        if kind == "sqlite":
            url = f"sqlite:///{data / 'bench.db'}"
            admin = None
        else:
            name = f"hde_bench_{uuid.uuid4().hex[:8]}"
            admin = create_engine(PG, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            url = make_url(PG).set(database=name).render_as_string(hide_password=False)
        db = Database(url)
        upgrade(db)
        db.dispose()
        if admin is not None:
            # the previous part's writes (a million rows for ``backlog``) are flushed now,
            # not by a checkpoint in the middle of this part's measurement
            # (not a superuser: measured as it comes)
            with admin.connect() as conn, contextlib.suppress(DBAPIError):
                conn.execute(text("CHECKPOINT"))
        app = bootstrap(Settings(database_url=url, secret_key=SECRET, data_dir=data, lang="en"))  # type: ignore[call-arg]
        try:
            yield app, url, data
        finally:
            app.close()
            if admin is not None:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                admin.dispose()


def worker_process(url: str, data: Path, *extra: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "HDE_DATABASE_URL": url,
        "HDE_SECRET_KEY": SECRET,
        "HDE_DATA_DIR": str(data),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "hde_core", "worker", "--no-periodic", *extra],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(data / "worker.log", "ab"),  # noqa: SIM115 - kept by the child
    )


def count_sent(app: App) -> int:
    with app.db.reader() as s:
        return int(s.scalar(select(func.count()).where(Message.status == "sent")) or 0)


# -- throughput ------------------------------------------------------------------------------


def wait_for_workers(app: App, count: int, timeout: float = 180.0) -> None:
    """Until ``count`` workers have started (their heartbeat rows exist)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with app.db.reader() as s:
            if s.scalar(select(func.count()).select_from(WorkerHeartbeat)) >= count:
                return
        time.sleep(0.05)


def naive_loop(app: App, url: str, count: int) -> float:
    """msg/s of a synchronous loop: claim one, one HTTP call, one commit, for ``count`` messages."""
    from sqlalchemy import update

    with app.db.reader() as s:
        ids = list(s.scalars(select(Message.id).where(Message.status == "queued").limit(count)))
    started = time.perf_counter()
    with httpx.Client() as http:
        for mid in ids:
            with app.db.transaction() as s:
                m = s.get(Message, mid)
                assert m is not None
                r = http.post(
                    f"{url}/bot123456:TEST-token_abcdef/sendMessage",
                    json={"chat_id": int(m.recipient), "text": m.payload["text"]},
                )
                s.execute(
                    update(Message)
                    .where(Message.id == mid)
                    .values(
                        status="sent", provider_message_id=str(r.json()["result"]["message_id"])
                    )
                )
    return len(ids) / (time.perf_counter() - started)


def throughput(kind: str) -> list[Figure]:
    with database(kind) as (app, url, data), FakeTelegramProcess(latency=LATENCY) as fake:
        channel = provision_telegram(app, data, fake.url, rate=10_000, burst=10_000)
        chats = list(range(1, N + 501))
        for start in range(0, len(chats), 20_000):
            enqueue(app, channel, chats[start : start + 20_000])
        naive = naive_loop(app, fake.url, 500)
        before = count_sent(app)
        proc = worker_process(url, data, "--concurrency", "100")
        ps = psutil.Process(proc.pid)
        wait_for_workers(app, 1)  # start-up (imports) is not throughput
        started = time.perf_counter()
        rss: list[float] = []
        while count_sent(app) - before < N:
            time.sleep(0.5)
            rss.append(ps.memory_info().rss / 2**20)
            if proc.poll() is not None:
                break
        elapsed = time.perf_counter() - started
        cpu = ps.cpu_times()
        proc.terminate()
        proc.wait(30)
        rate = (count_sent(app) - before) / elapsed
        cpu_ms = (cpu.user + cpu.system) * 1000 / max(count_sent(app) - before, 1)
        early = rss[len(rss) // 4]  # after warm-up: flat from here on means no leak
    note = f"{N:,} msgs, fake answers after {LATENCY * 1000:.0f} ms; {cpu_ms:.2f} ms CPU/msg; RSS {early:.0f}→{rss[-1]:.0f} MB"
    return [
        Figure(
            NAME,
            f"throughput, 1 worker ({kind})",
            rate,
            "msg/s",
            naive,
            "≥1,000 msg/s and ≥10× naive",
            rate >= 1000 and rate >= 10 * naive,
            max(rss),
            note,
        ),
    ]


# -- rate adherence ------------------------------------------------------------------------------


def worst_window(times: list[float]) -> int:
    times = sorted(times)
    worst, j = 0, 0
    for i, start in enumerate(times):
        while times[j] <= start - 1.0:
            j += 1
        worst = max(worst, i - j + 1)
    return worst


# -- backlog ------------------------------------------------------------------------------


def fill(app: App, channel_id: int, total: int) -> None:
    """Queue messages straight in SQL up to ``total`` (one ticket; ids from a series)."""
    with app.db.transaction() as s:
        have = int(s.scalar(select(func.count()).select_from(Message)) or 0)
        ticket = s.execute(text("SELECT min(id) FROM tickets")).scalar()
        if ticket is None:
            ticket = s.execute(
                text(
                    "INSERT INTO tickets (subject, body, priority, status, channel_id, author, created_by,"
                    " send_email, fields, created_at, updated_at) VALUES ('b','b','normal','open',:c,"
                    "'agent','bench',true,'{}',:now,:now) RETURNING id"
                ),
                {"c": channel_id, "now": app.clock.now()},
            ).scalar()
        series = (
            "SELECT generate_series(CAST(:a AS BIGINT), CAST(:b AS BIGINT)) AS n"
            if app.db.dialect == "postgresql"
            else "WITH RECURSIVE s(n) AS (SELECT :a UNION ALL SELECT n + 1 FROM s WHERE n < :b) SELECT n FROM s"
        )
        s.execute(
            text(
                "INSERT INTO messages (ticket_id, channel_id, recipient, kind, status, payload, attempts,"
                " idempotency_key, created_at, updated_at) "
                "SELECT :t, :c, CAST(n AS VARCHAR(20)), 'text', 'queued', '{\"text\": \"b\"}', 0,"
                " 'bench:' || CAST(n AS VARCHAR(20)), :now, :now FROM (" + series + ") AS q"
            ),
            {"t": ticket, "c": channel_id, "a": have + 1, "b": total, "now": app.clock.now()},
        )
    if app.db.dialect == "postgresql":
        with app.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE messages"))


def claim_ms(app: App, channel_id: int) -> float:
    wid = new_worker_id()
    times = []
    for _ in range(15):
        started = time.perf_counter()
        claim_channel(app, wid, channel_id, limit=100, borrow=True)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def backlog(kind: str) -> list[Figure]:
    with database(kind) as (app, _url, data):
        channel = provision_telegram(app, data, "http://127.0.0.1:9", rate=10_000, burst=10_000)
        fill(app, channel, 10_000)
        small = claim_ms(app, channel)
        fill(app, channel, BACKLOG)
        big = claim_ms(app, channel)
    return [
        Figure(
            NAME,
            f"claim 100 with {BACKLOG:,} queued ({kind})",
            big,
            "ms",
            small,
            "same as with 10,000 (ratio ≈ 1)",
            big <= max(3 * small, small + 5),
            None,
            "baseline column: the same claim with 10,000 queued",
        ),
    ]


# -- bulk creation ------------------------------------------------------------------------------


EMAIL = """
[[departments]]
name = "First line"
mailbox = "support@company.com"
smtp_url = "{smtp}"

[[channels]]
name = "email"
kind = "email"
department = "First line"

[[custom_fields]]
key = "order_id"
label = "Order number"
required = true

[[notification_templates]]
kind = "agent_initiated"
enabled = true
subject = "[#{{{{ ticket.id }}}}] {{{{ ticket.subject }}}}"
body = "Hello {{{{ contact.name }}}}! {{{{ ticket.body }}}} (order {{{{ ticket.fields.order_id }}}})"
"""


def provision_email(app: App, data: Path, smtp_url: str) -> None:
    path = data / "provision-email.toml"
    path.write_text(EMAIL.format(smtp=smtp_url), encoding="utf-8")
    provision(app, path, actor=BENCH)


def bulk(kind: str) -> list[Figure]:
    rows = "".join(f"client{i}@example.com;Client {i};A-{i}\n" for i in range(BULK_ROWS))
    source = ("Email;Имя;order_id\n" + rows).encode()
    with database(kind) as (app, _url, data):
        provision_email(app, data, "smtp://127.0.0.1:9")
        request = svc.SendRequest(
            source=source,
            filename="bench.csv",
            channels=["email"],
            subject="Заказ {{ order_id }}",
            body="{{ Имя }}, ваш заказ {{ order_id }} готов.",
        )
        started = time.perf_counter()
        result = svc.launch(app, request, BENCH)
        elapsed = time.perf_counter() - started
        assert result.tickets_created == BULK_ROWS, result
        from hde_core.services.tickets import TicketRequest, create_ticket

        started = time.perf_counter()
        naive_rows = 300
        for i in range(naive_rows):
            create_ticket(
                app,
                TicketRequest(
                    channel="email",
                    to=f"naive{i}@example.com",
                    subject="s",
                    body="b",
                    fields={"order_id": str(i)},
                ),
                BENCH,
            )
        naive_rate = naive_rows / (time.perf_counter() - started)
    per_second = BULK_ROWS / elapsed
    return [
        Figure(
            NAME,
            f"hde send: {BULK_ROWS:,} tickets + messages ({kind})",
            per_second,
            "rows/s",
            naive_rate,
            "≥ 5,000 rows/s (100,000 in ≤ 20 s)",
            per_second >= 5_000,
            None,
            f"{elapsed:.1f} s in all (validation included); baseline: one create_ticket per row",
        ),
    ]


def run(argv: list[str]) -> list[Figure]:
    kinds = ["sqlite"] + (["postgresql"] if PG else [])
    figures: list[Figure] = []
    for kind in kinds:
        for part in (bulk, backlog, throughput):
            print(f"  … {part.__name__} on {kind}", flush=True)
            figures += part(kind)
    return figures
