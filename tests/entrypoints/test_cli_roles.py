"""Every command × every kind of actor (SPEC §6, §10): the command line acts as an existing
active user; what that user may change is checked by the use case itself. A refusal is
one line, exit 2, and leaves the database exactly as it was.

The commands run in this process (the CLI's own ``main``), each on a fresh copy of one
prepared database, so that an allowed command cannot change what the next one sees."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import click
import pytest
from sqlalchemy import create_engine, select

from hde_core.db.models import Base, Channel, User
from hde_core.domain.roles import PERMISSIONS, Permission, Role
from hde_core.entrypoints.cli import cli
from tests.conftest import TEST_SECRET, add_cli_user
from tests.entrypoints.test_cli import hde as hde_process
from tests.services.helpers import BASE

GRAY = """
[[channels]]
name = "gray"
kind = "whatsapp"
provider = "green_api"
api_base = "http://127.0.0.1:9/sim/greenapi"
webhook_secret = "gray-webhook-secret"

[channels.credentials]
id_instance = "1101000001"
api_token = "gray-api-token"

[[channels]]
name = "biz"
kind = "wa_business"
provider = "meta_cloud"
api_base = "http://127.0.0.1:9/sim/meta"

[channels.credentials]
access_token = "biz-access-token"
phone_number_id = "100000000000001"
waba_id = "200000000000001"
app_secret = "biz-app-secret"
verify_token = "biz-verify-token"
"""

LIST = "Email;Имя;order_id\nanna@example.com;Анна;A-1\nboris@example.com;Борис;A-2\n"

#: The people the command line may be asked to act as: one active user per role, a
#: disabled admin and a login nobody has.
ACTORS = {
    "admin": Role.ADMIN,
    "lead": Role.TEAM_LEAD,
    "agent": Role.AGENT,
    "viewer": Role.VIEWER,
    "gone": None,  # a disabled admin
    "ghost": None,  # nobody
}

#: command → (arguments, the permission it needs). ``{dir}`` is the test's folder.
COMMANDS: dict[str, tuple[list[str], Permission]] = {
    "user add": (["user", "add", "newbie", "--role", "admin"], Permission.MANAGE_USERS),
    "provision": (["provision", "{dir}/provision.toml"], Permission.MANAGE_CHANNELS),
    "send": (
        ["send", "{dir}/clients.csv", "--channel", "email", "--subject", "S", "--body", "B"],
        Permission.BULK_SEND,
    ),
    "send --dry-run": (
        ["send", "{dir}/clients.csv", "--channel", "email", "--subject", "S", "--body", "B"]
        + ["--dry-run"],
        Permission.VIEW,
    ),
    "campaign status": (["campaign", "status", "run-1"], Permission.VIEW),
    "campaign pause": (["campaign", "pause", "run-1"], Permission.BULK_SEND),
    "campaign resume": (["campaign", "resume", "run-1"], Permission.BULK_SEND),
    "campaign cancel": (["campaign", "cancel", "run-1"], Permission.BULK_SEND),
    "messages": (["messages"], Permission.VIEW),
    "resend": (["resend", "1"], Permission.RESEND_UNCERTAIN),
    "ticket": (
        ["ticket", "--channel", "email", "--to", "vera@example.com", "--subject", "S"]
        + ["--body", "B", "--field", "order_id=7"],
        Permission.CREATE_TICKET,
    ),
    "validate": (["validate", "{dir}/clients.csv", "--channel", "email"], Permission.VIEW),
    "channel check": (["channel", "check", "email"], Permission.CHANNEL_SETTINGS),
    "channel webhook": (
        ["channel", "webhook", "gray", "--public-url", "http://127.0.0.1:9"],
        Permission.CHANNEL_SETTINGS,
    ),
    "channel initiation": (
        ["channel", "initiation", "gray", "--enable", "--acknowledge-risk"],
        Permission.CHANNEL_SETTINGS,
    ),
    "channel wa-settings": (
        ["channel", "wa-settings", "biz", "--acknowledge-rules"],
        Permission.CHANNEL_SETTINGS,
    ),
    "templates sync": (["templates", "sync"], Permission.MANAGE_TEMPLATES),
    "templates list": (["templates", "list"], Permission.VIEW),
    "prices list": (["prices", "list"], Permission.VIEW),
    "prices set": (["prices", "set", "utility", "0.01"], Permission.CHANNEL_SETTINGS),
    "prices delete": (["prices", "delete", "marketing"], Permission.CHANNEL_SETTINGS),
    "tickets list": (["tickets", "list"], Permission.VIEW),
    "tickets show": (["tickets", "show", "1"], Permission.VIEW),
    "tickets replies": (["tickets", "replies", "run-1"], Permission.VIEW),
    "tickets assign": (["tickets", "assign", "1", "lead"], Permission.ASSIGN_TICKETS),
    "tickets status": (["tickets", "status", "1", "closed"], Permission.REPLY_TICKET),
    "tickets assignment": (
        ["tickets", "assignment", "run-1", "round_robin"],
        Permission.ASSIGN_TICKETS,
    ),
    "reply": (["reply", "1", "--body", "Hello", "--queue-only"], Permission.REPLY_TICKET),
    "secrets rotate": (
        ["secrets", "rotate", TEST_SECRET, "a-brand-new-secret-key-0987654321"],
        Permission.MANAGE_CHANNELS,
    ),
}

#: Commands that run as the product itself (no actor to check) or touch no data.
PROCESSES = {
    "migrate",
    "db app-role",  # run as the database's owner: its credentials are the authority
    "worker",
    "webhooks",
    "demo",
    "poll",
    "mail-in",  # the inbound email listener and IMAP poller, like the webhook receiver
    "sandbox mail",
    "sandbox smtp",
}

REFUSED = ("may not", "not an active console user")


def _leaves(group: click.Group, prefix: str = "") -> set[str]:
    out: set[str] = set()
    for name, command in group.commands.items():
        full = f"{prefix}{name}"
        if isinstance(command, click.Group):
            out |= _leaves(command, full + " ")
        else:
            out.add(full)
    return out


def test_every_command_is_walked_or_named_as_a_process():
    walked = {name.split(" --")[0] for name in COMMANDS}
    assert _leaves(cli) == walked | PROCESSES


def _snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                t.name: sorted((tuple(map(repr, r)) for r in conn.execute(select(t))), key=str)
                for t in Base.metadata.sorted_tables
            }
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Path:
    """A database with the staff, an email and a gray WhatsApp channel, prices, a campaign."""
    folder = tmp_path_factory.mktemp("roles-world")
    db = folder / "hde.db"
    shutil.copy(sqlite_template, db)
    url = f"sqlite:///{db}"
    for login, role in ACTORS.items():
        if login != "ghost":
            add_cli_user(url, login, (role or Role.ADMIN).value, active=role is not None)
    (folder / "provision.toml").write_text(
        BASE.format(smtp="smtp://127.0.0.1:9", agent_enabled="true", received_enabled="true")
        + GRAY
        + '\n[[prices]]\ncategory = "marketing"\nprice = "0.05"\n',
        encoding="utf-8",
    )
    (folder / "clients.csv").write_text(LIST, encoding="utf-8")
    env = _env(url, folder)
    for args in (
        ["provision", str(folder / "provision.toml")],
        ["send", str(folder / "clients.csv"), "--channel", "email", "--subject", "S"]
        + ["--body", "B", "--campaign", "run-1"],
    ):
        run = hde_process({**os.environ, **env, "HDE_ACTOR": "admin"}, *args)
        assert run.returncode == 0, run.stderr
    return folder


def _env(url: str, folder: Path) -> dict[str, str]:
    return {
        "HDE_DATABASE_URL": url,
        "HDE_SECRET_KEY": TEST_SECRET,
        "HDE_DATA_DIR": str(folder / "data"),
        "HDE_LANG": "en",
        "HDE_PASSWORD": "a-long-password-1",
    }


def _run(monkeypatch, capsys, env: dict[str, str], args: list[str]) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    from hde_core.entrypoints.cli import main

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    capsys.readouterr()
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.mark.parametrize("actor", list(ACTORS))
@pytest.mark.parametrize("command", list(COMMANDS))
def test_each_command_as_each_actor(world, tmp_path, monkeypatch, capsys, command, actor):
    args, permission = COMMANDS[command]
    db = tmp_path / "hde.db"
    shutil.copy(world / "hde.db", db)
    url = f"sqlite:///{db}"
    role = ACTORS[actor]
    allowed = role is not None and permission in PERMISSIONS[role]
    before = _snapshot(url)
    env = {**_env(url, world), "HDE_ACTOR": actor}
    code, output = _run(monkeypatch, capsys, env, [a.replace("{dir}", str(world)) for a in args])
    refused = any(words in output for words in REFUSED)
    if allowed:
        assert not refused, output
        assert code in (0, 1), output  # ran: done, or some rows/channels refused
    else:
        assert refused and code == 2, output
        assert len(output.strip().splitlines()) == 1, output  # one line
        assert _snapshot(url) == before  # nothing changed, not even the audit


def test_an_unknown_actor_never_acknowledges_the_gray_whatsapp_risk(
    world, tmp_path, monkeypatch, capsys
):
    db = tmp_path / "hde.db"
    shutil.copy(world / "hde.db", db)
    url = f"sqlite:///{db}"
    env = {**_env(url, world), "HDE_ACTOR": "ghost"}
    code, output = _run(
        monkeypatch,
        capsys,
        env,
        ["channel", "initiation", "gray", "--enable", "--acknowledge-risk"],
    )
    assert code == 2 and "'ghost' is not an active console user" in output
    engine = create_engine(url)
    with engine.connect() as conn:
        ack = conn.execute(
            select(Channel.initiation_enabled, Channel.risk_ack_by).where(Channel.name == "gray")
        ).one()
    engine.dispose()
    assert tuple(ack) == (False, None)


def test_the_first_admin_is_created_once_and_only_as_an_admin(
    sqlite_url, data_dir, monkeypatch, capsys
):
    env = {
        "HDE_DATABASE_URL": sqlite_url,
        "HDE_SECRET_KEY": TEST_SECRET,
        "HDE_DATA_DIR": str(data_dir),
        "HDE_LANG": "en",
        "HDE_PASSWORD": "a-long-password-1",
        "HDE_ACTOR": "whoever",  # nobody yet: a fresh install
    }
    code, output = _run(monkeypatch, capsys, env, ["user", "add", "ann", "--role", "viewer"])
    assert code == 2 and "There is no administrator yet" in output
    code, output = _run(monkeypatch, capsys, env, ["user", "add", "boss", "--role", "admin"])
    assert code == 0, output
    code, output = _run(monkeypatch, capsys, env, ["user", "add", "evil", "--role", "admin"])
    assert code == 2 and "'whoever' is not an active console user" in output
    engine = create_engine(sqlite_url)
    with engine.connect() as conn:
        logins = sorted(conn.scalars(select(User.login)))
    engine.dispose()
    assert logins == ["boss"]
    code, output = _run(
        monkeypatch,
        capsys,
        {**env, "HDE_ACTOR": "boss"},
        ["user", "add", "ann", "--role", "viewer"],
    )
    assert code == 0, output
