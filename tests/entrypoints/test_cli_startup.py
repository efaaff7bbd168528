"""What a process says when it cannot start: one line, exit 2, never a traceback."""

from __future__ import annotations

import pytest

from tests.entrypoints.test_cli import hde


@pytest.mark.parametrize(
    ("value", "words"),
    [("0", "must be a positive number of megabytes"), ("many", "valid integer")],
)
def test_a_bad_setting_is_one_line_and_exit_2(cli_env, value, words):
    run = hde({**cli_env, "HDE_UPLOAD_LIMIT_MB": value}, "messages")
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith(f"The setting HDE_UPLOAD_LIMIT_MB={value} is not valid")
    assert words in lines[0]
    assert "Internal error" not in run.stderr


TELEGRAM = """
[[channels]]
name = "tg"
kind = "telegram"
provider = "telegram"
api_base = "http://127.0.0.1:9"
webhook_secret = "hook-secret-123"

[channels.credentials]
bot_token = "123456:TOKEN-abcd"
"""


@pytest.mark.parametrize("command", [["webhooks", "--port", "0"], ["worker", "--until-idle"]])
def test_a_receiver_or_worker_with_the_wrong_key_stops_at_start(cli_env, tmp_path, command):
    path = tmp_path / "tg.toml"
    path.write_text(TELEGRAM, encoding="utf-8")
    assert hde(cli_env, "provision", str(path)).returncode == 0
    wrong = {**cli_env, "HDE_SECRET_KEY": "not-the-key-it-was-saved-with-0123"}
    run = hde(wrong, *command)  # before: the receiver started and answered 500 to everything
    assert run.returncode == 2, run.stderr
    assert "HDE_SECRET_KEY cannot read 2 stored secret(s)" in run.stderr
    assert "hde secrets rotate" in run.stderr
    assert "Traceback" not in run.stderr


def test_secrets_rotate_then_the_new_key_works(cli_env, tmp_path):
    path = tmp_path / "tg.toml"
    path.write_text(TELEGRAM, encoding="utf-8")
    assert hde(cli_env, "provision", str(path)).returncode == 0
    new = "a-brand-new-secret-key-0987654321"
    run = hde(cli_env, "secrets", "rotate", cli_env["HDE_SECRET_KEY"], new)
    assert run.returncode == 0, run.stderr
    assert "re-encrypted with the new key: 2" in run.stdout
    moved = {**cli_env, "HDE_SECRET_KEY": new}
    assert hde(moved, "worker", "--until-idle").returncode == 0
    assert hde(cli_env, "worker", "--until-idle").returncode == 2  # the old key no longer
