"""`hde templates …`, `hde channel wa-settings` and `hde prices` as a team lead runs them:
real processes against the Cloud API simulator, real exit codes, one-line errors."""

from __future__ import annotations

import json

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from hde_core.sandbox.server import HttpServer
from hde_core.sandbox.sim_meta import MetaSimulator
from hde_core.sandbox.smtp_sink import free_port
from tests.channels.wa_helpers import APP_SECRET, PHONE_NUMBER_ID, VERIFY_TOKEN, WABA_ID
from tests.entrypoints.test_cli import hde


@pytest.fixture
def lead(cli_env, tmp_path):
    server = HttpServer(
        Starlette(routes=[Mount("/sim/meta", app=MetaSimulator().asgi())]),
        "127.0.0.1",
        free_port(),
    ).start()
    path = tmp_path / "wa.toml"
    path.write_text(
        f"""
[[channels]]
name = "wa"
kind = "wa_business"
provider = "meta_cloud"
api_base = "{server.url}/sim/meta"
[channels.credentials]
access_token = "t"
phone_number_id = "{PHONE_NUMBER_ID}"
waba_id = "{WABA_ID}"
app_secret = "{APP_SECRET}"
verify_token = "{VERIFY_TOKEN}"
""",
        encoding="utf-8",
    )
    assert hde(cli_env, "provision", str(path)).returncode == 0
    yield cli_env
    server.stop()


def test_sync_list_and_choose_the_default_template(lead):
    synced = hde(lead, "templates", "sync", "--json")
    assert synced.returncode == 0, synced.stderr
    (report,) = json.loads(synced.stdout)["channels"]
    assert (report["channel"], report["total"], report["created"]) == ("wa", 9, 9)

    listed = json.loads(hde(lead, "templates", "list", "--approved", "--json").stdout)
    assert len(listed) == 5 and {r["status"] for r in listed} == {"APPROVED"}

    refused = hde(lead, "channel", "wa-settings", "wa", "--default-template", "autumn_sale:ru")
    assert refused.returncode == 1
    assert "PENDING" in refused.stderr and "Traceback" not in refused.stderr

    chosen = hde(
        lead,
        "channel",
        "wa-settings",
        "wa",
        "--acknowledge-rules",
        "--default-template",
        "hde_first_contact:ru",
        "--param",
        "1={{ contact.name }}",
        "--param",
        "2={{ ticket.id }}",
        "--hold-until-reply",
        "--json",
    )
    assert chosen.returncode == 0, chosen.stderr
    settings = json.loads(chosen.stdout)
    assert settings["ready"] and settings["rules_acknowledged_by"] == "tester"
    assert settings["preview"].startswith("Здравствуйте, {{ contact.name }}!")

    shown = hde(lead, "channel", "wa-settings", "wa")
    assert "hde_first_contact:ru" in shown.stdout and "tester" in shown.stdout


def test_usage_errors_are_one_line_and_exit_2(lead):
    for args in (
        ("templates", "sync", "--channel", "nope"),
        ("channel", "wa-settings", "wa", "--param", "oops"),
        ("prices", "set", "newsletter", "1"),
    ):
        result = hde(lead, *args)
        assert result.returncode == 2, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) <= 2 and "Traceback" not in result.stderr


def test_prices_can_be_set_and_listed(lead):
    assert hde(lead, "prices", "set", "utility", "0.04", "--country", "ru").returncode == 0
    rows = json.loads(hde(lead, "prices", "list", "--json").stdout)
    assert [(r["category"], r["country"], r["price"]) for r in rows] == [
        ("utility", "RU", "0.0400")
    ]
