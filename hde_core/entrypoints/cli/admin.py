"""Administration: schema, users, provisioning, the sandbox SMTP sink."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import click
from sqlalchemy.engine import make_url

from hde_core.bootstrap import App
from hde_core.config import load_settings
from hde_core.db.migrate import upgrade
from hde_core.db.roles import create_app_role
from hde_core.db.session import Database
from hde_core.domain.roles import Permission
from hde_core.entrypoints.cli.common import (
    CliState,
    json_option,
    needs_app,
    needs_app_as_process,
    pass_state,
    print_json,
    say,
    warn,
)
from hde_core.errors import UsageError
from hde_core.i18n import t
from hde_core.sandbox.smtp_sink import SmtpSink, list_mail, mail_dir
from hde_core.services.authz import authorize
from hde_core.services.credentials import rotate
from hde_core.services.provision import provision
from hde_core.services.users import add_user


@click.command()
def migrate() -> None:
    """Bring the database to the current schema."""
    settings = load_settings()
    db = Database(settings.resolved_database_url)
    try:
        before, after = upgrade(db)
    finally:
        db.dispose()
    if before == after:
        say("cli.migrate.current", heads=", ".join(sorted(after)))
    else:
        say("cli.migrate.done", heads=", ".join(sorted(after)))


@click.group()
def user() -> None:
    """Console users."""


@user.command("add")
@click.argument("login")
@click.option("--role", required=True, type=click.Choice(["admin", "team_lead", "agent", "viewer"]))
@click.option("--name", "display_name", default="", help="Display name.")
@needs_app_as_process
def user_add(state: CliState, app: App, login: str, role: str, display_name: str) -> None:
    """Create a console user (password from HDE_PASSWORD, or asked twice)."""
    password = os.environ.get("HDE_PASSWORD")
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    add_user(app, login, role, password, state.actor, display_name)
    say("cli.user.created", login=login, role=role)


@click.command("provision")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--dry-run", is_flag=True, help="Show what would change; change nothing.")
@json_option
@needs_app
def provision_cmd(state: CliState, app: App, file: Path, dry_run: bool, as_json: bool) -> None:
    """Create or update departments, channels, custom fields and templates from FILE.toml."""
    if not file.exists():
        raise UsageError("error.file_not_found", path=str(file))
    report = provision(app, file, state.actor, dry_run=dry_run)
    if as_json:
        print_json(
            {
                "changes": report.changes,
                "changed": report.changed,
                "unchanged": report.unchanged,
                "dry_run": dry_run,
            }
        )
        return
    for line in report.changes:
        click.echo(f"  {line}")
    say(
        "cli.provision.dry_run" if dry_run else "cli.provision.done",
        changed=report.changed,
        unchanged=report.unchanged,
    )


@click.group("db")
def db_group() -> None:
    """The database itself (run as its owner)."""


@db_group.command("app-role")
@click.argument("name")
@click.option(
    "--password",
    envvar="HDE_APP_ROLE_PASSWORD",
    default=None,
    help="The role's password (default: HDE_APP_ROLE_PASSWORD, or asked).",
)
def db_app_role(name: str, password: str | None) -> None:
    """Create (or update) the PostgreSQL role the application should connect as: it owns
    nothing, so it cannot switch off the audit trail's protection."""
    settings = load_settings()
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    db = Database(settings.resolved_database_url)
    try:
        created = create_app_role(db, name, password or "")
    finally:
        db.dispose()
    url = make_url(settings.resolved_database_url).set(username=name, password="PASSWORD")
    say(
        "cli.db.role_ready",
        name=name,
        how=t("cli.db.created" if created else "cli.db.updated"),
        url=url.render_as_string(hide_password=False),
    )


@click.group()
def secrets() -> None:
    """HDE_SECRET_KEY and the secrets it encrypts."""


@secrets.command("rotate")
@click.argument("old_key", envvar="HDE_OLD_SECRET_KEY")
@click.argument("new_key", envvar="HDE_NEW_SECRET_KEY")
@needs_app_as_process
def secrets_rotate(state: CliState, app: App, old_key: str, new_key: str) -> int:
    """Re-encrypt every stored credential from OLD_KEY to NEW_KEY (an admin's act).

    Then set HDE_SECRET_KEY=NEW_KEY everywhere and restart. The keys may also come from
    HDE_OLD_SECRET_KEY / HDE_NEW_SECRET_KEY (kept out of the shell history)."""
    authorize(app, state.actor, Permission.MANAGE_CHANNELS)
    report = rotate(app, old_key, new_key, state.actor)
    say("cli.secrets.rotated", rotated=report.rotated, already=report.already)
    for label in report.lost:
        warn("cli.secrets.lost", item=label)
    return 1 if report.lost else 0


@click.group()
def sandbox() -> None:
    """The built-in sandbox: SMTP sink and provider simulators."""


@sandbox.command("mail")
@click.option("--limit", type=int, default=20, show_default=True)
@json_option
def sandbox_mail(limit: int, as_json: bool) -> None:
    """List what the sandbox SMTP sink received, newest first."""
    mails = list_mail(mail_dir(load_settings().data_dir), limit)
    if as_json:
        print_json(
            [
                {
                    "received_at": m.received_at.isoformat(),
                    "from": m.from_header,
                    "to": m.to_header,
                    "subject": m.subject,
                    "message_id": m.message_id,
                    "text": m.text,
                }
                for m in mails
            ]
        )
        return
    if not mails:
        say("cli.sandbox.no_mail")
    for m in mails:
        click.echo(
            f"{m.received_at:%Y-%m-%d %H:%M:%S}  {m.from_header} → {m.to_header}  {m.subject}"
        )


@sandbox.command("smtp")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=None, help="Default: HDE_SMTP_SINK_PORT (2525).")
@pass_state
def sandbox_smtp(state: CliState, host: str, port: int | None) -> None:
    """Run only the SMTP sink (Ctrl+C to stop)."""
    settings = load_settings()
    sink = SmtpSink(mail_dir(settings.data_dir), host, port or settings.smtp_sink_port).start()
    say("cli.sandbox.smtp_running", url=sink.url, dir=str(sink.directory))
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        sink.stop()


def register(cli: click.Group) -> None:
    cli.add_command(migrate)
    cli.add_command(user)
    cli.add_command(provision_cmd)
    cli.add_command(sandbox)
    cli.add_command(secrets)
    cli.add_command(db_group)
