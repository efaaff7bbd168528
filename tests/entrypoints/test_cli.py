"""`hde` as a user runs it: a real process, real exit codes, one-line errors, no tracebacks."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hde_core.sandbox.smtp_sink import list_mail, wait_for_mail
from tests.conftest import add_cli_user
from tests.services.helpers import provision_text

ROOT = Path(__file__).resolve().parents[2]


def hde(env, *args, input=None):
    return subprocess.run(
        [sys.executable, "-m", "hde_core", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        input=input,
        timeout=60,
    )


@pytest.fixture
def provisioned(cli_env, tmp_path, smtp_sink):
    path = provision_text(tmp_path, smtp_sink.url)
    assert hde(cli_env, "provision", str(path)).returncode == 0
    return cli_env


def test_example_provision_file_twice_reports_zero_changes(cli_env):
    first = hde(cli_env, "provision", "examples/provision.toml", "--json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["changed"] == 7
    second = hde(cli_env, "provision", "examples/provision.toml", "--json")
    assert json.loads(second.stdout) == {
        "changes": [],
        "changed": 0,
        "unchanged": 7,
        "dry_run": False,
    }
    text = hde(cli_env, "provision", "examples/provision.toml")
    assert "0 change(s)" in text.stdout


def test_ticket_json_and_delivery_to_the_sink(provisioned, smtp_sink):
    run = hde(
        provisioned,
        "ticket",
        "--channel",
        "email",
        "--to",
        "client@example.com",
        "--department",
        "IT",
        "--subject",
        "Проверка",
        "--body",
        "Текст",
        "--field",
        "order_id=9",
        "--json",
    )
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out["ok"] and out["message_status"] == "sent" and isinstance(out["ticket_id"], int)
    (mail,) = wait_for_mail(smtp_sink.directory, 1)
    assert (
        mail.from_header == "IT <it@company.com>"
        and mail.subject == f"[#{out['ticket_id']}] Проверка"
    )


def test_refused_ticket_exits_1_with_one_error_per_field(provisioned, smtp_sink):
    run = hde(
        provisioned,
        "ticket",
        "--channel",
        "email",
        "--to",
        "client@example.com",
        "--subject",
        "",
        "--body",
        "",
    )
    assert run.returncode == 1
    lines = [line for line in run.stderr.splitlines() if line.startswith("  - ")]
    assert lines == [
        "  - subject: required, fill it in.",
        "  - body: required, fill it in.",
        "  - order_id (Order number): required, fill it in.",
    ]
    assert "Traceback" not in run.stderr
    assert list_mail(smtp_sink.directory) == []


def test_refusal_as_json(provisioned):
    run = hde(
        provisioned,
        "ticket",
        "--channel",
        "email",
        "--to",
        "x@",
        "--subject",
        "s",
        "--body",
        "b",
        "--field",
        "order_id=1",
        "--json",
    )
    assert run.returncode == 1
    assert json.loads(run.stdout)["errors"] == [
        {
            "field": "to",
            "code": "invalid_email",
            "message": "to: 'x@' is not a valid email address.",
        }
    ]


def test_failed_delivery_exits_1(provisioned):
    run = hde(
        provisioned,
        "ticket",
        "--channel",
        "email",
        "--to",
        "bounce@example.com",
        "--subject",
        "s",
        "--body",
        "b",
        "--field",
        "order_id=1",
    )
    assert run.returncode == 1
    assert "550 5.1.1 Mailbox unavailable" in run.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["ticket", "--to", "x"], "Missing option '--channel'"),
        (["provision", "nope.toml"], "File nope.toml does not exist"),
        (
            ["ticket", "--channel", "email", "--to", "a@b.cd", "--field", "novalue"],
            "'novalue' is not KEY=VALUE",
        ),
    ],
)
def test_bad_usage_exits_2_with_one_clear_line(cli_env, args, needle):
    run = hde(cli_env, *args)
    assert run.returncode == 2
    assert needle in run.stderr
    assert "Traceback" not in run.stderr


def test_bad_provision_file_exits_2_and_names_line_and_key(cli_env, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[[channels]]\nname = "x"\nkind = "email"\nspeed = 3\n', encoding="utf-8")
    run = hde(cli_env, "provision", str(bad))
    assert run.returncode == 2
    assert "line 4, channels.0.speed: unknown key" in run.stderr


def test_outdated_schema_says_to_migrate(cli_env, tmp_path):
    env = {**cli_env, "HDE_DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}"}
    run = hde(env, "provision", "examples/provision.toml")
    assert run.returncode == 2
    assert "hde migrate" in run.stderr
    assert hde(env, "migrate").returncode == 0
    add_cli_user(env["HDE_DATABASE_URL"], "tester", "admin")
    assert hde(env, "provision", "examples/provision.toml").returncode == 0


def test_user_add_reads_password_from_env(cli_env):
    run = hde(
        {**cli_env, "HDE_PASSWORD": "long-password"}, "user", "add", "lead", "--role", "team_lead"
    )
    assert run.returncode == 0, run.stderr
    again = hde(
        {**cli_env, "HDE_PASSWORD": "long-password"}, "user", "add", "lead", "--role", "agent"
    )
    assert again.returncode == 2 and "already exists" in again.stderr


def test_sandbox_mail_lists_received_messages(provisioned, smtp_sink):
    hde(
        provisioned,
        "ticket",
        "--channel",
        "email",
        "--to",
        "c@example.com",
        "--subject",
        "Hello there",
        "--body",
        "b",
        "--field",
        "order_id=1",
    )
    listed = hde(provisioned, "sandbox", "mail", "--json")
    assert listed.returncode == 0
    (mail,) = json.loads(listed.stdout)
    assert (mail["to"], mail["subject"]) == ("c@example.com", "[#1] Hello there")
