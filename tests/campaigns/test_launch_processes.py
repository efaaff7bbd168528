"""Issue 14.1 acceptance, in the field's conditions: three ``hde worker`` processes run on
PostgreSQL while ten ``hde send … --at +1d`` launches (two of them identical) are written
at once, and the periodic finish runs all the time (here every 50 ms, not every 30 s, so
that it falls between a campaign's creation and its chunks): every campaign ends with all
its messages — none ``done`` with messages still queued. Then a launch that starts now is
sent completely by the same workers through a real SMTP server."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from hde_core.db.models import Campaign, Message
from hde_core.sandbox.smtp_sink import wait_for_mail
from hde_core.services import campaigns
from hde_core.services.provision import provision
from tests.conftest import TEST_SECRET
from tests.dispatch.test_processes import start_worker, stop
from tests.staff import seed_staff

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.parametrize("db_url", ["postgres"], indirect=True),
]

ROWS = 2_100  # two chunks each (2,000 + 100): the second commits after the first
ROOT = Path(__file__).resolve().parents[2]

PROVISION = """
[[departments]]
name = "First line"
mailbox = "support@company.com"
smtp_url = "{smtp}"

[[channels]]
name = "email"
kind = "email"
department = "First line"
rate_per_sec = 2000
burst = 200

[[notification_templates]]
kind = "agent_initiated"
enabled = true
subject = "[#{{{{ ticket.id }}}}] {{{{ ticket.subject }}}}"
body = "Hello {{{{ contact.name }}}}! {{{{ ticket.body }}}}"
"""


def write_list(path: Path, prefix: str, rows: int) -> Path:
    lines = "".join(f"{prefix}{i}@example.com;{prefix} {i}\n" for i in range(rows))
    path.write_text("Email;Name\n" + lines, encoding="utf-8")
    return path


def send(env: dict[str, str], source: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hde_core",
            "--actor",
            "lead",
            "send",
            str(source),
            "--channel",
            "email",
            "--subject",
            "News for {{ Name }}",
            "--body",
            "Hello {{ Name }}",
            "--json",
            *extra,
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def env(app, db_url, data_dir, tmp_path, smtp_sink):
    path = tmp_path / "provision.toml"
    path.write_text(PROVISION.format(smtp=smtp_sink.url), encoding="utf-8")
    seed_staff(app)  # the admin who provisions, the team lead "lead" who launches
    provision(app, path, actor="admin")
    return {
        **os.environ,
        "HDE_DATABASE_URL": db_url,
        "HDE_SECRET_KEY": TEST_SECRET,
        "HDE_DATA_DIR": str(data_dir),
        "HDE_LANG": "en",
    }


def per_campaign(app) -> dict[str, tuple[str, Counter[str]]]:
    with app.db.reader() as s:
        statuses = dict(s.execute(select(Campaign.key, Campaign.status)).all())
        rows = s.execute(
            select(Campaign.key, Message.status, func.count())
            .join(Message, Message.campaign_id == Campaign.id)
            .group_by(Campaign.key, Message.status)
        ).all()
    counts: dict[str, Counter[str]] = {k: Counter() for k in statuses}
    for key, status, n in rows:
        counts[key][status] = n
    return {k: (statuses[k], counts[k]) for k in statuses}


def test_launches_while_workers_run_end_with_all_their_messages(
    app, env, tmp_path, data_dir, smtp_sink
):
    sources = [write_list(tmp_path / f"list{i}.csv", f"l{i}-", ROWS) for i in range(9)]
    sources.append(sources[-1])  # two identical launches at the same moment
    workers = [start_worker(env["HDE_DATABASE_URL"], data_dir) for _ in range(3)]
    stop_finishing = threading.Event()
    finished: list[int] = []

    def finish_all_the_time() -> None:  # what each worker does every 30 s
        while not stop_finishing.is_set():
            finished.append(campaigns.finish_campaigns(app))
            time.sleep(0.05)

    finisher = threading.Thread(target=finish_all_the_time)
    finisher.start()
    try:
        launches = [send(env, source, "--at", "+1d") for source in sources]
        outputs = [p.communicate(timeout=240) for p in launches]  # a loaded machine
        for p, (_out, err) in zip(launches, outputs, strict=True):
            assert p.returncode == 0, err
        time.sleep(0.3)  # a few more finishing passes after the last launch
        stop_finishing.set()
        finisher.join()

        after = per_campaign(app)
        assert len(after) == 9  # the identical pair is one campaign
        for key, (status, counts) in after.items():
            # scheduled for tomorrow: all written, all queued, the campaign running
            assert (status, dict(counts)) == ("running", {"queued": ROWS}), key
        assert sum(finished) == 0  # never finished while launching

        # a launch that starts now is sent completely by the running workers
        now_list = write_list(tmp_path / "now.csv", "now-", 400)
        launch = send(env, now_list)
        _out, err = launch.communicate(timeout=60)
        assert launch.returncode == 0, err
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            campaigns.finish_campaigns(app)
            now_key = next(k for k in per_campaign(app) if k not in after)
            status, counts = per_campaign(app)[now_key]
            if status == "done":
                break
            time.sleep(0.5)
    finally:
        stop_finishing.set()
        stop(workers)
    assert (status, dict(counts)) == ("done", {"sent": 400})
    received = {m.to_header for m in wait_for_mail(smtp_sink.directory, 400)}
    assert received == {f"now-{i}@example.com" for i in range(400)}
