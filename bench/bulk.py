"""The bulk wizard on a 100,000-row list: what the console page waits for at each step.

The page never holds the rows: it asks the core for a check (kept for a few minutes), then
for counts per reason and one page of 50 rows at a time. Measured here on SQLite with an
email channel, against the naive way a page would do it — materialise every row's verdict
(``ValidationResult.iter_rows``) and filter, count and slice them in Python, then ship the
whole table to the browser.

Targets: the check ≤ 5 s; a page of rows ≤ 50 ms; counts per reason ≤ 20 ms; a page sent
to the browser ≤ 50 KB (the whole table is tens of megabytes).
``make bench BENCH_ARGS="bulk --rows=20000"`` for a quicker run.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.common import Figure, peak_rss_mb

OUT = Path(__file__).resolve().parent / "out" / "bulk"
ROWS = 100_000
SECRET = "bench-secret-key-0123456789abcdef"
PROVISION = """
[[departments]]
name = "First line"
mailbox = "support@company.com"
smtp_url = "smtp://127.0.0.1:2525"

[[channels]]
name = "email"
kind = "email"
department = "First line"

[[notification_templates]]
kind = "agent_initiated"
enabled = true
subject = "{{ ticket.subject }}"
body = "{{ ticket.body }}"
"""


def _list(rows: int) -> bytes:
    rnd = random.Random(7)
    lines = ["ФИО;Эл. почта;Город"]
    for i in range(rows):
        roll = rnd.random()
        email = f"client{i}@example.ru"
        if roll < 0.02:
            email = f"client{i}@@example"  # invalid
        elif roll < 0.03:
            email = f"client{rnd.randrange(max(i, 1))}@example.ru"  # a duplicate
        elif roll < 0.035:
            email = ""
        city = "" if rnd.random() < 0.01 else rnd.choice(["Москва", "Казань", "Пермь"])
        lines.append(f"Клиент {i};{email};{city}")
    return "\n".join(lines).encode("cp1251")


def _timed(fn: Any, repeat: int = 1) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def run(argv: list[str]) -> list[Figure]:
    parser = argparse.ArgumentParser(prog="bench bulk")
    parser.add_argument("--rows", type=int, default=ROWS)
    args = parser.parse_args(argv)

    from hde_core.bootstrap import bootstrap
    from hde_core.config import Settings
    from hde_core.db.migrate import upgrade
    from hde_core.db.session import Database
    from hde_core.lists.engine import REASONS
    from hde_core.services import bulk
    from hde_core.services.authz import SystemActor
    from hde_core.services.provision import provision

    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    url = f"sqlite:///{OUT / 'hde.db'}"
    db = Database(url)
    upgrade(db)
    db.dispose()
    app = bootstrap(Settings(database_url=url, secret_key=SECRET, data_dir=OUT, lang="en"))
    (OUT / "provision.toml").write_text(PROVISION, encoding="utf-8")
    provision(app, OUT / "provision.toml", SystemActor("bench"))

    upload = bulk.store_upload(app, "clients.csv", _list(args.rows))
    facts = bulk.inspect_upload(app, upload)
    draft = bulk.make_draft(
        upload, facts.mapping, ["email"], "Заказ", "{{ ФИО }}, ваш заказ ждёт в городе {{ Город }}"
    )
    t_check, found = _timed(lambda: bulk.check(app, draft))
    middle = max(1, found.result.rows // bulk.PAGE_SIZE // 2)
    t_page, page = _timed(lambda: bulk.rows_page(found, "all", middle, lang="ru"), repeat=20)
    t_problems, _ = _timed(lambda: bulk.rows_page(found, "problems", 2, lang="ru"), repeat=20)
    t_reasons, lines = _timed(lambda: bulk.reason_lines(found, "ru"), repeat=20)
    page_kb = len(json.dumps(page.records(), ensure_ascii=False).encode()) / 1024

    # the naive page: every row's verdict as objects, then filter / count / slice in Python
    def naive_page() -> list[Any]:
        rows = list(found.result.iter_rows())
        return rows[(middle - 1) * bulk.PAGE_SIZE : middle * bulk.PAGE_SIZE]

    def naive_reasons() -> Counter[str]:
        return Counter(r.reason.value for r in found.result.iter_rows() if not r.eligible)

    t_naive_page, naive = _timed(naive_page)
    t_naive_reasons, counted = _timed(naive_reasons)
    whole_kb = (
        len(
            json.dumps(
                [
                    {**r.values, "reason": r.message("ru"), "recipient": r.recipient}
                    for r in found.result.iter_rows()
                ],
                ensure_ascii=False,
            ).encode()
        )
        / 1024
    )
    same_page = [int(r[0]) for r in page.rows] == [r.row_number for r in naive]
    same_counts = {line.code: 0 for line in lines}
    for line in lines:
        same_counts[line.code] += line.count
    agree = same_page and same_counts == dict(counted)
    rss = peak_rss_mb()
    n = f"{found.result.rows:,} rows"
    note = "" if agree else "MISMATCH with the naive path"
    eligible = found.summary["eligible"]
    figures = [
        Figure(
            "bulk",
            f"check: read, validate, cost ({n}, {eligible:,} eligible)",
            t_check,
            "s",
            target="≤ 5 s",
            ok=t_check <= 5,
            peak_rss_mb=rss,
            lower_is_better=True,
            note=f"{len(REASONS)} reason codes",
        ),
        Figure(
            "bulk",
            f"one page of {bulk.PAGE_SIZE} rows ({n})",
            t_page * 1000,
            "ms",
            baseline=t_naive_page * 1000,
            target="≤ 50 ms",
            ok=t_page <= 0.05 and agree,
            lower_is_better=True,
            note=note or f"'problems' filter: {t_problems * 1000:.1f} ms",
        ),
        Figure(
            "bulk",
            f"counts per reason ({n})",
            t_reasons * 1000,
            "ms",
            baseline=t_naive_reasons * 1000,
            target="≤ 20 ms",
            ok=t_reasons <= 0.02 and agree,
            lower_is_better=True,
            note=note,
        ),
        Figure(
            "bulk",
            "sent to the browser for the table",
            page_kb,
            "KB",
            baseline=whole_kb,
            target="≤ 50 KB",
            ok=page_kb <= 50,
            lower_is_better=True,
            note="one page vs the whole table",
        ),
    ]
    app.close()
    return figures
