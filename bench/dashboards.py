"""Dashboard queries on a big PostgreSQL database (issue: Console II).

Fills a fresh database with 1,000,000 messages and 5,000,000 audit events over 30 days
and 10 channels (server-side ``generate_series``, so the fill itself is quick), then
times every dashboard query and the overview's whole server-side run, each beside a
naive baseline from the same run (rows loaded into pandas, then grouped), and prints
the ``EXPLAIN`` of each query. The console pages' lists are timed too: a campaign's
recipients (first and a deep page, with their count), its statuses over time, the window
monitor, held messages and the opt-out list (10 campaigns of 50,000 messages each,
4,000 opt-outs).

Needs PostgreSQL: ``HDE_BENCH_POSTGRES_URL`` (default: the local server).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pandas as pd
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench.common import Figure, peak_rss_mb
from hde_core.bootstrap import bootstrap
from hde_core.config import Settings
from hde_core.db.migrate import upgrade
from hde_core.db.session import Database
from hde_core.services import bulk_runs, campaigns, dashboards, delivery, live, windows
from hde_core.services.settings import list_opt_outs

SERVER = os.environ.get(
    "HDE_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
MESSAGES = int(os.environ.get("HDE_BENCH_MESSAGES", "1000000"))
AUDIT = int(os.environ.get("HDE_BENCH_AUDIT", "5000000"))
CHANNELS = 10
DAYS = 30
CAMPAIGNS = 10
#: The campaign the console's campaign queries are timed on (50,000 messages).
CAMPAIGN = 3
PAGE = 50

FILL = """
INSERT INTO channels (name, kind, provider, settings, enabled, is_sandbox, connection_status, rate_per_sec, burst,
                      max_attempts, initiation_enabled, send_after_template, created_at, updated_at)
SELECT 'ch' || g, (ARRAY['email','telegram','viber','whatsapp','wa_business'])[1 + g % 5],
       (ARRAY['smtp','telegram','viber','green_api','meta_cloud'])[1 + g % 5], '{{}}', true, true, 'connected',
       80, 80, 8, false, false, now(), now()
FROM generate_series(1, {channels}) g;

INSERT INTO campaigns (key, name, channel_ids, subject, body, template_params, options, status, total_rows,
                       eligible_rows, created_by, created_at, updated_at)
SELECT 'campaign-' || g, 'Campaign ' || g, '[]', 'S', 'B', '{{}}', '{{}}', 'running', 50000, 50000, 'bench',
       now() - (g * 2) * interval '1 day', now()
FROM generate_series(1, {campaigns}) g;

INSERT INTO contacts (name, attributes, created_at, updated_at)
SELECT 'Client ' || g, '{{}}', now(), now() FROM generate_series(1, 200000) g;

INSERT INTO contact_identities (contact_id, channel_id, address, first_inbound_at, last_inbound_at, opted_out_at,
                                opt_out_reason, created_at)
SELECT g, 1 + g % {channels}, '+7900' || lpad(g::text, 7, '0'),
       now() - interval '40 days', now() - (g % 72) * interval '1 hour' - (g % 60) * interval '1 minute',
       CASE WHEN g % 50 = 0 THEN now() - (g % 30) * interval '1 day' END,
       CASE WHEN g % 50 = 0 THEN 'STOP' END, now()
FROM generate_series(1, 200000) g;

INSERT INTO tickets (subject, body, priority, status, channel_id, contact_id, identity_id, author, created_by,
                     send_email, fields, created_at, updated_at)
SELECT 'Subject ' || g, 'Body', 'normal', 'open', 1 + g % {channels}, 1 + g % 200000, 1 + g % 200000, 'agent',
       'bench', false, '{{}}', now() - (g % ({days} * 1440)) * interval '1 minute', now()
FROM generate_series(1, {messages}) g;

INSERT INTO messages (ticket_id, campaign_id, channel_id, identity_id, recipient, kind, status, payload, attempts,
                      idempotency_key, created_at, updated_at, sent_at, delivered_at, read_at, failed_at,
                      error_class, error_code, error_text)
SELECT g, CASE WHEN g % 2 = 0 THEN 1 + (g / 2) % {campaigns} END, 1 + g % {channels}, 1 + g % 200000,
       '+7900' || lpad((g % 200000)::text, 7, '0'), 'text',
       s.status, '{{}}', 1, 'bench:' || g, c.created, c.created,
       CASE WHEN s.status IN ('sent','delivered','read') THEN c.created + interval '2 seconds' END,
       CASE WHEN s.status IN ('delivered','read') THEN c.created + interval '40 seconds' END,
       CASE WHEN s.status = 'read' THEN c.created + interval '15 minutes' END,
       CASE WHEN s.status = 'failed' THEN c.created + interval '3 seconds' END,
       CASE WHEN s.status = 'failed' THEN 'not_reachable' END,
       CASE WHEN s.status = 'failed' THEN (ARRAY['131026','403','550','6'])[1 + g % 4] END,
       CASE WHEN s.status = 'failed' THEN 'recipient cannot be reached' END
FROM generate_series(1, {messages}) g
CROSS JOIN LATERAL (SELECT now() - (g % ({days} * 1440)) * interval '1 minute' AS created) c
CROSS JOIN LATERAL (SELECT (ARRAY['read','read','read','delivered','delivered','sent','failed','queued',
                                  'held','uncertain','read','delivered'])[1 + (g * 7) % 12] AS status) s;

INSERT INTO audit_events (at, actor, event, ticket_id, message_id, channel_id, data)
SELECT now() - (g % ({days} * 1440)) * interval '1 minute', 'dispatcher',
       (ARRAY['message_queued','message_sending','message_sent','status_delivered','status_read'])[1 + g % 5],
       1 + (g / 5) % {messages}, 1 + (g / 5) % {messages}, 1 + g % {channels}, '{{}}'
FROM generate_series(1, {audit}) g;
ANALYZE;
"""

#: The naive baseline loads the rows a query needs and aggregates in pandas.
BASELINE_SQL = {
    "statuses_week": "SELECT status FROM messages WHERE created_at >= :since",
    "statuses_all": "SELECT status FROM messages",
    "rates_week": "SELECT channel_id, status FROM messages WHERE created_at >= :since",
    "funnel_30d": "SELECT channel_id, status FROM messages WHERE created_at >= :since30",
    "statuses_by_day": "SELECT created_at, status FROM messages WHERE created_at >= :since30",
    "failure_reasons": "SELECT error_class, error_code FROM messages WHERE status = 'failed' AND created_at >= :since30",
    "delivery_times": "SELECT channel_id, sent_at, delivered_at, read_at FROM messages WHERE created_at >= :since30",
    "ticket_trail": "SELECT * FROM audit_events",
    "campaign_recipients": "SELECT m.id, m.status, m.recipient, m.error_class, m.error_code, m.error_text, "
    "c.name AS channel FROM messages m JOIN channels c ON c.id = m.channel_id WHERE m.campaign_id = :campaign",
    "campaign_over_time": "SELECT sent_at, failed_at, updated_at, status FROM messages WHERE campaign_id = :campaign",
    "campaign_funnel": "SELECT channel_id, status FROM messages WHERE campaign_id = :campaign",
    "open_windows": "SELECT id, channel_id, contact_id, address, last_inbound_at FROM contact_identities",
    "held_messages": "SELECT id, ticket_id, channel_id, identity_id, recipient, updated_at FROM messages "
    "WHERE status = 'held'",
    "opt_outs": "SELECT id, channel_id, address, opted_out_at, opt_out_reason FROM contact_identities",
}


def _timed(fn: Callable[[], Any], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def run(argv: list[str]) -> list[Figure]:
    name = f"hde_bench_dash_{uuid.uuid4().hex[:6]}"
    admin = create_engine(SERVER, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(SERVER).set(database=name).render_as_string(hide_password=False)
    figures: list[Figure] = []
    try:
        db = Database(url)
        upgrade(db)
        t0 = time.perf_counter()
        with db.engine.begin() as conn:  # psycopg without parameters: '%' is the modulo operator
            conn.connection.driver_connection.execute(  # type: ignore[union-attr]
                FILL.format(
                    channels=CHANNELS,
                    messages=MESSAGES,
                    audit=AUDIT,
                    days=DAYS,
                    campaigns=CAMPAIGNS,
                )
            )
        print(
            f"  filled {MESSAGES:,} messages and {AUDIT:,} audit events in {time.perf_counter() - t0:.0f} s",
            flush=True,
        )
        db.dispose()
        app = bootstrap(
            Settings(database_url=url, secret_key="bench-secret-key-0123456789"), check_schema=True
        )
        now = app.clock.now()
        since7 = now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=6)
        since30 = now - timedelta(days=30)
        queries: dict[str, Callable[[], Any]] = {
            "overview (whole page, server side)": lambda: dashboards.overview(app),
            "funnel_30d": lambda: dashboards.funnel(app, since=since30),
            "statuses_by_day": lambda: dashboards.statuses_by_day(app, days=30),
            "failure_reasons": lambda: dashboards.failure_reasons(app, since=since30),
            "delivery_times": lambda: dashboards.delivery_times(app, since=since30),
            "ticket_trail": lambda: _trail(app, MESSAGES // 2),
            # the console pages (issue 8): one page of each list with its count
            "campaign_list": lambda: delivery.campaign_choices(app),
            "campaign_funnel": lambda: dashboards.funnel(app, campaign_id=CAMPAIGN),
            "campaign_over_time": lambda: delivery.statuses_over_time(app, CAMPAIGN),
            "campaign_failures": lambda: dashboards.failure_reasons(app, campaign_id=CAMPAIGN),
            "campaign_times": lambda: dashboards.delivery_times(app, campaign_id=CAMPAIGN),
            "campaign_recipients (page 1)": lambda: delivery.campaign_recipients(
                app, CAMPAIGN, limit=PAGE
            ),
            "campaign_recipients (failed, page 21)": lambda: delivery.campaign_recipients(
                app, CAMPAIGN, statuses=["failed"], limit=PAGE, offset=PAGE * 20
            ),
            "campaign_recipients (page 800)": lambda: delivery.campaign_recipients(
                app, CAMPAIGN, limit=PAGE, offset=PAGE * 799
            ),
            "open_windows (page 1)": lambda: windows.open_windows(app, limit=PAGE),
            "open_windows (one channel, closing in 2 h)": lambda: windows.open_windows(
                app, ["ch4"], closing_within=windows.CLOSING_SOON, limit=PAGE
            ),
            "held_messages (page 1)": lambda: windows.held_messages(app, limit=PAGE),
            "opt_outs (page 1)": lambda: list_opt_outs(app, limit=PAGE),
            # live views (issue 16.5): what one refresh of each fragment asks the database,
            # and the checks that decide whether a view keeps refreshing at all
            "live: anything running? (overview's pace)": lambda: live.activity(app),
            "live: window open or message held? (windows' pace)": lambda: live.windows_activity(
                app
            ),
            "live refresh: overview fragment": lambda: _overview_refresh(app),
            "live refresh: campaign summary fragment": lambda: _campaign_summary(app),
            "live refresh: campaign charts and recipients fragment": lambda: _campaign_details(app),
            "live refresh: bulk progress fragment": lambda: (
                bulk_runs.progress(app, f"campaign-{CAMPAIGN}").activity
            ),
        }
        baselines = {
            "overview (whole page, server side)": ["statuses_week", "rates_week"],
            "funnel_30d": ["funnel_30d"],
            "statuses_by_day": ["statuses_by_day"],
            "failure_reasons": ["failure_reasons"],
            "delivery_times": ["delivery_times"],
            "ticket_trail": [],
            "campaign_list": [],
            "campaign_funnel": ["campaign_funnel"],
            "campaign_over_time": ["campaign_over_time"],
            "campaign_failures": ["campaign_funnel"],
            "campaign_times": ["campaign_over_time"],
            "campaign_recipients (page 1)": ["campaign_recipients"],
            "campaign_recipients (failed, page 21)": ["campaign_recipients"],
            "campaign_recipients (page 800)": ["campaign_recipients"],
            "open_windows (page 1)": ["open_windows"],
            "open_windows (one channel, closing in 2 h)": ["open_windows"],
            "held_messages (page 1)": ["held_messages"],
            "opt_outs (page 1)": ["opt_outs"],
            "live: anything running? (overview's pace)": ["statuses_all"],
            "live: window open or message held? (windows' pace)": ["open_windows"],
            "live refresh: overview fragment": ["statuses_week", "rates_week"],
            "live refresh: campaign summary fragment": ["campaign_funnel"],
            "live refresh: campaign charts and recipients fragment": [
                "campaign_funnel",
                "campaign_over_time",
                "campaign_recipients",
            ],
            "live refresh: bulk progress fragment": ["campaign_funnel"],
        }
        for label, fn in queries.items():
            seconds = _timed(fn)
            base = sum(_baseline(app, key, since7, since30) for key in baselines[label]) or None
            target = TARGETS.get(label, 1.0)
            figures.append(
                Figure(
                    "dashboards",
                    label,
                    seconds,
                    "s",
                    baseline=base,
                    target=f"≤ {target:g} s",
                    ok=seconds <= target,
                    peak_rss_mb=peak_rss_mb(),
                    lower_is_better=True,
                )
            )
        _explain(app, since7, since30)
        app.close()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    return figures


#: Seconds; 1 s for the rest. A live fragment's refresh takes at most a quarter to a third
#: of its pace while sending (services.live.PACE: progress every 2 s, a campaign's summary
#: every 3 s, its charts and recipients every 10 s, the overview every 10 s), and the
#: "keep refreshing?" checks are index probes.
TARGETS = {
    "overview (whole page, server side)": 2.0,
    "live: anything running? (overview's pace)": 0.05,
    "live: window open or message held? (windows' pace)": 0.05,
    "live refresh: overview fragment": 2.0,
    "live refresh: campaign summary fragment": 1.0,
    "live refresh: campaign charts and recipients fragment": 3.0,
    "live refresh: bulk progress fragment": 0.5,
}


def _overview_refresh(app: Any) -> Any:
    """The overview's fragment: its figures, then whether to keep refreshing."""
    dashboards.overview(app)
    return live.activity(app)


def _campaign_summary(app: Any) -> Any:
    """The campaigns page's first fragment: the campaign's report, and whether to go on."""
    report = campaigns.campaign_report(app, f"campaign-{CAMPAIGN}")
    return live.campaign_activity(report.status, report.messages)


def _campaign_details(app: Any) -> Any:
    """Its second fragment: the four charts, the first page of recipients with their
    count, and whether to go on."""
    report = campaigns.campaign_report(app, f"campaign-{CAMPAIGN}")
    dashboards.funnel(app, campaign_id=CAMPAIGN)
    delivery.statuses_over_time(app, CAMPAIGN)
    dashboards.failure_reasons(app, campaign_id=CAMPAIGN)
    dashboards.delivery_times(app, campaign_id=CAMPAIGN)
    delivery.campaign_recipients(app, CAMPAIGN, limit=0)
    delivery.campaign_recipients(app, CAMPAIGN, limit=PAGE)
    return live.campaign_activity(report.status, report.messages)


def _trail(app: Any, ticket_id: int) -> Any:
    from hde_core.services.audit import ticket_trail

    with app.db.reader() as s:
        return ticket_trail(s, ticket_id)


def _baseline(app: Any, key: str, since7: Any, since30: Any) -> float:
    sql = BASELINE_SQL[key]
    params = {"since": since7, "since30": since30, "campaign": CAMPAIGN}

    def load_and_group() -> None:
        with app.db.engine.connect() as conn:
            frame = pd.read_sql(text(sql), conn, params=params)
        frame.groupby(list(frame.columns[:1])).size()

    return _timed(load_and_group, repeat=1)


def _explain(app: Any, since7: Any, since30: Any) -> None:
    statements = {
        "statuses_week": "SELECT status, count(*) FROM messages WHERE created_at >= :s GROUP BY status",
        "held_per_channel": "SELECT channel_id, count(*) FROM messages WHERE status = 'held' GROUP BY channel_id",
        "open_windows": "SELECT channel_id, count(*) FROM contact_identities "
        "WHERE last_inbound_at > now() - interval '24 hours' GROUP BY channel_id",
        "ticket_trail": f"SELECT * FROM audit_events WHERE ticket_id = {MESSAGES // 2} ORDER BY id",
        "campaign_recipients (page 1)": "SELECT m.id, c.name, m.recipient, m.status, m.error_text "
        "FROM messages m JOIN channels c ON c.id = m.channel_id "
        "LEFT JOIN contact_identities i ON i.id = m.identity_id "
        "LEFT JOIN contacts k ON k.id = i.contact_id "
        f"WHERE m.campaign_id = {CAMPAIGN} ORDER BY m.id LIMIT {PAGE}",
        "campaign_recipients (count)": f"SELECT count(*) FROM messages WHERE campaign_id = {CAMPAIGN}",
        "campaign_over_time (each message once)": "SELECT date_trunc('hour', timezone('UTC', "
        "coalesce(sent_at, failed_at, updated_at))) h, status, count(*) "
        f"FROM messages WHERE campaign_id = {CAMPAIGN} GROUP BY h, status",
        "live: anything running?": "SELECT EXISTS (SELECT 1 FROM messages WHERE status IN "
        "('queued', 'sending', 'retrying')) OR EXISTS (SELECT 1 FROM campaigns WHERE status = "
        "'launching')",
        "open_windows (page 1)": "SELECT i.id, c.name, i.address, i.last_inbound_at, "
        "(SELECT count(*) FROM messages m WHERE m.identity_id = i.id AND m.status = 'held') "
        "FROM contact_identities i JOIN channels c ON c.id = i.channel_id "
        "JOIN contacts k ON k.id = i.contact_id "
        "WHERE i.last_inbound_at > now() - interval '24 hours' "
        "AND c.kind IN ('telegram', 'viber', 'wa_business', 'whatsapp') "
        f"ORDER BY i.last_inbound_at, i.id LIMIT {PAGE}",
        "held_messages (page 1)": "SELECT m.id, m.recipient, m.updated_at, t.status FROM messages m "
        "LEFT JOIN messages t ON t.id = m.after_message_id WHERE m.status = 'held' "
        f"ORDER BY m.updated_at, m.id LIMIT {PAGE}",
        "opt_outs (page 1)": "SELECT i.address, i.opted_out_at FROM contact_identities i "
        "WHERE i.opted_out_at IS NOT NULL "
        f"ORDER BY i.opted_out_at DESC, i.id DESC LIMIT {PAGE}",
    }
    with app.db.engine.connect() as conn:
        for label, sql in statements.items():
            plan = (
                conn.execute(text("EXPLAIN (ANALYZE, BUFFERS OFF) " + sql), {"s": since7})
                .scalars()
                .all()
            )
            print(f"  EXPLAIN {label}:")
            for line in plan:
                print("    " + line)
