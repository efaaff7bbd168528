"""`hde send`, `hde campaign`, `hde messages`, `hde resend` as a user runs them (real
processes, SQLite, the SMTP sink): exit codes, JSON, nothing created twice."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from hde_core.bootstrap import bootstrap
from hde_core.dispatch.claim import claim
from hde_core.sandbox.smtp_sink import wait_for_mail
from hde_core.services.messages import expire_leases
from tests.conftest import add_cli_user, make_settings
from tests.entrypoints.test_cli import hde
from tests.services.helpers import provision_text

LIST = (
    "Email;Имя;order_id\n"
    "anna@example.com;Анна;A-1\n"
    "boris@example.com;Борис;A-2\n"
    "not-an-email;Вера;A-3\n"
)


@pytest.fixture
def env(cli_env, tmp_path, smtp_sink):
    assert hde(cli_env, "provision", str(provision_text(tmp_path, smtp_sink.url))).returncode == 0
    (tmp_path / "clients.csv").write_text(LIST, encoding="utf-8")
    return cli_env


def send(env, tmp_path, *extra):
    return hde(
        env,
        "send",
        str(tmp_path / "clients.csv"),
        "--channel",
        "email",
        "--subject",
        "Заказ {{ order_id }}",
        "--body",
        "{{ Имя }}, заказ готов.",
        *extra,
    )


def test_send_wait_delivers_and_a_relaunch_creates_nothing(env, tmp_path, smtp_sink):
    first = send(env, tmp_path, "--wait", "--json")
    assert first.returncode == 1, first.stderr  # one row was refused (invalid email)
    data = json.loads(first.stdout)
    assert (data["rows"], data["eligible"], data["reasons"]["invalid_email"]) == (3, 2, 1)
    assert (data["tickets_created"], data["dispatched"]["sent"]) == (2, 2)
    assert {m.to_header for m in wait_for_mail(smtp_sink.directory, 2)} == {
        "anna@example.com",
        "boris@example.com",
    }
    again = json.loads(send(env, tmp_path, "--json").stdout)
    assert again["campaign"] == data["campaign"]
    assert (again["tickets_created"], again["already_queued"]) == (0, 2)
    status = hde(env, "campaign", "status", data["campaign"], "--json")
    assert status.returncode == 0
    assert json.loads(status.stdout)["messages"]["sent"] == 2
    human = hde(env, "campaign", "status", data["campaign"])
    assert data["campaign"] in human.stdout and "sent" in human.stdout


def test_scheduled_campaign_cancelled_says_how_many(env, tmp_path):
    out = send(env, tmp_path, "--at", "+2h", "--campaign", "later")
    assert out.returncode == 1 and "later" in out.stdout and "Sending starts at" in out.stdout
    status = json.loads(hde(env, "campaign", "status", "later", "--json").stdout)
    assert (status["status"], status["messages"]["queued"]) == ("scheduled", 2)
    cancelled = hde(env, "campaign", "cancel", "later")
    assert cancelled.returncode == 0
    assert "2 unsent message(s) cancelled" in cancelled.stdout


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--subject", "Заказ {{ nope }}"), "is not a column of the list"),
        (("--at", "tomorrowish"), "is not a time"),
    ],
)
def test_bad_request_is_one_line_exit_2_and_creates_nothing(env, tmp_path, args, words):
    out = send(env, tmp_path, *args)
    assert out.returncode == 2
    assert words in out.stderr and "Traceback" not in out.stderr
    assert json.loads(hde(env, "messages", "--json").stdout) == []


def test_uncertain_listing_and_resend_by_a_team_lead(env, tmp_path, smtp_sink):
    send(env, tmp_path, "--json")
    # a worker claimed both messages and died before recording: its lease ran out
    app = bootstrap(make_settings(env["HDE_DATABASE_URL"], Path(env["HDE_DATA_DIR"])))
    try:
        claimed = claim(app, "dead-worker", limit=10, lease=timedelta(0), borrow=True)
        assert len(claimed) == 2
        assert expire_leases(app) == 2
    finally:
        app.close()
    listed = json.loads(hde(env, "messages", "--status", "uncertain", "--json").stdout)
    ids = sorted(str(m["id"]) for m in listed)
    assert len(ids) == 2
    assert hde(env, "worker", "--until-idle", "--no-periodic").returncode == 0
    assert list(Path(smtp_sink.directory).glob("*.eml")) == []  # never resent by itself
    add_cli_user(env["HDE_DATABASE_URL"], "ann", "agent")
    refused = hde(env, "--actor", "ann", "resend", *ids)
    assert refused.returncode == 2 and "team lead" in refused.stderr
    lead = {**env, "HDE_PASSWORD": "password-123"}
    assert hde(lead, "user", "add", "lead", "--role", "team_lead").returncode == 0
    ok = hde(env, "--actor", "lead", "resend", *ids, "--json")
    assert ok.returncode == 0, ok.stderr
    assert sorted(map(str, json.loads(ok.stdout)["resent"])) == ids
    assert hde(env, "worker", "--until-idle", "--no-periodic").returncode == 0
    assert len(wait_for_mail(smtp_sink.directory, 2)) == 2


def test_send_dry_run_counts_rows_whose_message_is_over_the_limit(env, tmp_path):
    """Issue 15.4: the check of ``hde send`` refuses a row whose WhatsApp text would be
    over 4,096 characters (``text_too_long``), before anything is written."""
    from tests.campaigns.test_wa_business import ANNA, IGOR, setup

    app = bootstrap(make_settings(env["HDE_DATABASE_URL"], Path(env["HDE_DATA_DIR"])))
    try:
        setup(app, tmp_path, app.clock)
    finally:
        app.close()
    path = tmp_path / "wa.csv"
    # order_id: the custom field the email provisioning makes required
    rows = f"{ANNA};{'y' * 4097};A-1\n{IGOR};ok;A-2\n"
    path.write_text("Телефон;note;order_id\n" + rows, encoding="utf-8")
    args = ["send", str(path), "--channel", "wa", "--subject", "s", "--body", "{{ note }}"]
    out = hde(env, *args, "--dry-run", "--json")
    assert out.returncode == 1, out.stderr
    summary = json.loads(out.stdout)
    assert (summary["eligible"], summary["reasons"]["text_too_long"]) == (1, 1)
    words = hde(env, *args, "--dry-run")
    assert "text_too_long" in words.stdout + words.stderr
