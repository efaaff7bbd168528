"""The tickets page's queries on a large PostgreSQL database (issue 17, "make bench").

Seeds ``HDE_BENCH_TICKETS`` tickets (default 1,000,000) with ``HDE_BENCH_MESSAGES_PER_TICKET``
messages each (default 5, so 5,000,000) in plain SQL (``INSERT … SELECT generate_series``,
no ORM; the messages' indexes are built after the load), then times
:func:`hde_core.services.conversation.queries.list_tickets` exactly as the page calls it —
the counts per status under the other filters, the total and one page of rows — for each
filter (status, channel, campaign, assignee, window open / closing within 2 h), page 1 and
a deep page, and "my tickets first". Each figure is the median of three calls (after one
warm-up call) against the 1 s target.

Naive baseline, measured in the same run on the same rows: the same calls after dropping
the tickets' list indexes (``ix_ticket_*`` and ``ix_identity_last_inbound``), i.e. what the
page would cost without them. Run: ``make bench BENCH_ARGS=tickets_page`` with
``HDE_BENCH_POSTGRES_URL`` (or ``HDE_TEST_POSTGRES_URL``) set.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable

from sqlalchemy import text

from bench.common import Figure, peak_rss_mb
from bench.dispatch import PG, database
from hde_core.bootstrap import App
from hde_core.db.models import Campaign, Channel, User
from hde_core.services.conversation.queries import TicketFilter, list_tickets

NAME = "tickets_page"
TICKETS = int(os.environ.get("HDE_BENCH_TICKETS", "1000000"))
PER_TICKET = int(os.environ.get("HDE_BENCH_MESSAGES_PER_TICKET", "5"))
TARGET_S = 1.0
CHANNELS = [
    ("mail", "email", "smtp"),
    ("tg", "telegram", "telegram"),
    ("viber", "viber", "viber"),
    ("wa", "wa_business", "meta_cloud"),
    ("wa2", "wa_business", "360dialog"),
]
CAMPAIGNS = 50
AGENTS = 20
#: Indexes the list relies on; dropped for the naive baseline.
LIST_INDEXES = [
    "ix_ticket_last_activity",
    "ix_ticket_status_activity",
    "ix_ticket_assignee_status",
    "ix_ticket_campaign",
    "ix_ticket_identity",
    "ix_identity_last_inbound",
]


def seed(app: App) -> dict[str, float]:
    """Reference rows through the ORM, the bulk in SQL; seconds per step."""
    with app.db.transaction() as s:
        for name, kind, provider in CHANNELS:
            s.add(Channel(name=name, kind=kind, provider=provider))
        for i in range(CAMPAIGNS):
            s.add(Campaign(key=f"c{i}", name=f"Campaign {i}"))
        for i in range(AGENTS):
            s.add(User(login=f"agent{i}", password_hash="x", role="agent"))
    n, nch = TICKETS, len(CHANNELS)
    steps: dict[str, float] = {}
    with app.db.engine.begin() as conn:
        conn.execute(text("SET LOCAL synchronous_commit = off"))
        chan = "(SELECT array_agg(id ORDER BY id) FROM channels) AS cx(c)"
        camp = "(SELECT array_agg(id ORDER BY id) FROM campaigns) AS kx(k)"
        agents = "(SELECT array_agg(id ORDER BY id) FROM users) AS ax(a)"
        for label, sql in [
            (
                "contacts",
                f"INSERT INTO contacts (id, name, attributes, created_at, updated_at) "
                f"SELECT g, 'Client ' || g, '{{}}', now(), now() FROM generate_series(1, {n}) g",
            ),
            (
                "identities",
                f"INSERT INTO contact_identities (id, contact_id, channel_id, address, "
                f"last_inbound_at, created_at) SELECT g, g, c[1 + g % {nch}], 'addr' || g, "
                f"CASE WHEN g % 3 = 0 THEN now() - (g % 4000) * interval '1 minute' END, now() "
                f"FROM generate_series(1, {n}) g, {chan}",
            ),
            (
                "tickets",
                f"INSERT INTO tickets (id, subject, body, priority, status, channel_id, "
                f"contact_id, identity_id, assignee_id, author, created_by, send_email, fields, "
                f"campaign_id, last_activity_at, first_reply_at, created_at, updated_at) "
                f"SELECT g, 'Subject ' || g, 'Body', 'normal', "
                f"(ARRAY['waiting','replied','in_progress','closed'])[1 + (g * 7) % 4], "
                f"c[1 + g % {nch}], g, g, "
                f"CASE WHEN g % 5 = 0 THEN NULL ELSE a[1 + g % {AGENTS}] END, 'agent', 'bench', "
                f"true, '{{}}', CASE WHEN g % 10 = 0 THEN NULL ELSE k[1 + g % {CAMPAIGNS}] END, "
                f"now() - ({n} - g) * interval '2 seconds' - (g % 97) * interval '1 minute', "
                f"NULL, now() - interval '30 days', now() "
                f"FROM generate_series(1, {n}) g, {chan}, {camp}, {agents}",
            ),
        ]:
            started = time.perf_counter()
            conn.execute(text(sql))
            steps[label] = time.perf_counter() - started
    steps["messages"] = seed_messages(app)
    started = time.perf_counter()
    with app.db.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
    steps["analyze"] = time.perf_counter() - started
    return steps


def seed_messages(app: App) -> float:
    """``PER_TICKET`` messages per ticket, loaded with the table's indexes dropped and built
    afterwards (a bulk load's usual order)."""
    started = time.perf_counter()
    with app.db.engine.begin() as conn:
        conn.execute(text("SET LOCAL synchronous_commit = off"))
        indexes = conn.execute(
            text(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'messages' "
                "AND indexname LIKE 'ix_%'"
            )
        ).all()
        for name, _ in indexes:
            conn.execute(text(f'DROP INDEX "{name}"'))
        conn.execute(
            text(
                "INSERT INTO messages (ticket_id, campaign_id, channel_id, identity_id, "
                "recipient, kind, status, payload, attempts, idempotency_key, created_at, "
                "updated_at) SELECT t.id, t.campaign_id, t.channel_id, t.identity_id, "
                "'addr' || t.id, 'text', 'delivered', '{}', 1, 'b' || t.id || '-' || m, "
                "t.last_activity_at, t.last_activity_at "
                f"FROM tickets t, generate_series(1, {PER_TICKET}) m"
            )
        )
        for _, ddl in indexes:
            conn.execute(text(ddl))
    return time.perf_counter() - started


def timed(call: Callable[[], object]) -> float:
    call()  # warm-up: the first call pays for cold pages and plans
    runs = []
    for _ in range(3):
        started = time.perf_counter()
        call()
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def cases() -> list[tuple[str, Callable[[App], object]]]:
    def page(f: TicketFilter, page: int = 1, mine: str | None = None) -> Callable[[App], object]:
        return lambda app: list_tickets(app, f, page=page, per_page=50, mine_first=mine)

    return [
        ("all, page 1", page(TicketFilter())),
        ("all, page 2000 (deep)", page(TicketFilter(), page=2000)),
        ("status=replied", page(TicketFilter(status="replied"))),
        ("status=replied, page 2000", page(TicketFilter(status="replied"), page=2000)),
        ("channel=tg", page(TicketFilter(channel="tg"))),
        ("campaign=c7", page(TicketFilter(campaign="c7"))),
        ("assignee=agent3", page(TicketFilter(assignee="agent3"))),
        ("unassigned", page(TicketFilter(assignee="-"))),
        ("window open", page(TicketFilter(window="open"))),
        ("window closing ≤ 2 h", page(TicketFilter(window="closing"))),
        ("status+channel+campaign", page(TicketFilter("replied", "wa", "c3"))),
        ("my tickets first", page(TicketFilter(), mine="agent3")),
        ("my tickets first, replied", page(TicketFilter(status="replied"), mine="agent3")),
    ]


def run(argv: list[str]) -> list[Figure]:
    if not PG:
        raise SystemExit("tickets_page needs HDE_BENCH_POSTGRES_URL (or HDE_TEST_POSTGRES_URL)")
    with database("postgresql") as (app, _url, _data):
        steps = seed(app)
        print(
            f"  seeded {TICKETS:,} tickets / {TICKETS * PER_TICKET:,} messages: "
            + ", ".join(f"{k} {v:.1f}s" for k, v in steps.items()),
            flush=True,
        )
        measured = [(label, timed(lambda c=call: c(app))) for label, call in cases()]
        with app.db.engine.begin() as conn:
            for name in LIST_INDEXES:
                conn.execute(text(f'DROP INDEX IF EXISTS "{name}"'))
        naive = [timed(lambda c=call: c(app)) for _, call in cases()]
    scale = f"{TICKETS:,} tickets / {TICKETS * PER_TICKET:,} messages, PostgreSQL"
    return [
        Figure(
            NAME,
            f"list + counts: {label}",
            value,
            "s",
            baseline=base,
            target=f"≤ {TARGET_S:g} s",
            ok=value <= TARGET_S,
            peak_rss_mb=peak_rss_mb(),
            note=f"{scale}; median of 3; baseline: same call without the list indexes",
            lower_is_better=True,
        )
        for (label, value), base in zip(measured, naive, strict=True)
    ]
