"""Bulk runs and the dispatcher: ``hde send``, ``hde worker``, ``hde campaign …``,
``hde messages``, ``hde resend``. Thin: the rules live in :mod:`hde_core.services.campaigns`
and :mod:`hde_core.dispatch`."""

from __future__ import annotations

import asyncio
import logging
import re
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from hde_core.bootstrap import App, configure_logging
from hde_core.dispatch.worker import Worker, WorkerOptions
from hde_core.entrypoints.cli.common import (
    CliState,
    json_option,
    needs_app,
    needs_app_as_process,
    print_json,
    say,
    warn,
)
from hde_core.errors import UsageError
from hde_core.i18n import t
from hde_core.services import campaigns as svc
from hde_core.services.credentials import require_readable
from hde_core.services.messages import list_messages, resend

_RELATIVE = re.compile(r"^\+(\d+)([mhd])$")


def parse_at(value: str | None, now: datetime) -> datetime | None:
    """``2026-11-27T09:00`` (local time unless it has an offset), or ``+30m`` / ``+2h`` / ``+1d``."""
    if not value:
        return None
    match = _RELATIVE.match(value.strip())
    if match:
        unit = {"m": "minutes", "h": "hours", "d": "days"}[match.group(2)]
        return now + timedelta(**{unit: int(match.group(1))})
    try:
        at = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise UsageError("cli.send.bad_time", value=value) from exc
    if at.tzinfo is None:
        at = at.astimezone()  # the machine's local time
    return at.astimezone(UTC)


def parse_pairs(values: tuple[str, ...], key: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise UsageError(key, item=item)
        out[name.strip()] = value.strip()
    return out


@contextmanager
def progress_bars(enabled: bool) -> Iterator[Callable[[str, int, int], None] | None]:
    """A progress bar per phase on stderr when it is a terminal; nothing when piped."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    bars: dict[str, Any] = {}
    shown: dict[str, int] = {}

    def tick(phase: str, done: int, total: int) -> None:
        if phase not in bars:
            for bar in bars.values():
                bar.render_finish()
            bars[phase] = click.progressbar(
                length=max(total, 1), label=t(f"cli.send.phase.{phase}"), file=sys.stderr
            )
            bars[phase].render_progress()
            shown[phase] = 0
        bars[phase].update(done - shown[phase])
        shown[phase] = done

    try:
        yield tick
    finally:
        for bar in bars.values():
            bar.render_finish()


@click.command("send")
@click.argument("list_file", metavar="LIST", type=click.Path(path_type=Path))
@click.option("--channel", "channels", required=True, help="Channel, or a fallback list: a,b,c.")
@click.option("--subject", default=None, help="Ticket subject; {{ column }} takes the row's value.")
@click.option("--body", default=None, help="Message text; {{ column }} takes the row's value.")
@click.option("--template", default=None, help="WhatsApp Business template (NAME or NAME:LANG).")
@click.option(
    "--param", "params", multiple=True, metavar="N=COLUMN", help="Template parameter from a column."
)
@click.option("--campaign", "campaign_key", default=None, help="Campaign key (default: derived).")
@click.option("--name", default=None, help="Campaign name shown in the console.")
@click.option("--at", "at", default=None, help="Start later: 2026-11-27T09:00, +30m, +2h.")
@click.option("--department", default=None, help="Department (email: the sender mailbox).")
@click.option("--priority", default=None, help="low, normal, high or urgent.")
@click.option("--map", "mapping", multiple=True, metavar="ROLE=COLUMN", help="Column mapping.")
@click.option("--sheet", default=None, help="XLSX sheet (default: the first).")
@click.option("--dry-run", is_flag=True, help="Validate and count; create nothing.")
@click.option("--wait", is_flag=True, help="Also send now, until nothing is left to send now.")
@json_option
@needs_app
def send(
    state: CliState,
    app: App,
    list_file: Path,
    channels: str,
    subject: str | None,
    body: str | None,
    template: str | None,
    params: tuple[str, ...],
    campaign_key: str | None,
    name: str | None,
    at: str | None,
    department: str | None,
    priority: str | None,
    mapping: tuple[str, ...],
    sheet: str | None,
    dry_run: bool,
    wait: bool,
    as_json: bool,
) -> int:
    """Create one ticket per eligible row of LIST and queue its messages."""
    if not list_file.exists():
        raise UsageError("error.file_not_found", path=str(list_file))
    request = svc.SendRequest(
        source=list_file,
        filename=list_file.name,
        channels=[channels],
        subject=subject,
        body=body,
        sheet=sheet,
        mapping=parse_pairs(mapping, "cli.send.bad_pair") or None,
        template=template,
        params=parse_pairs(params, "cli.send.bad_pair"),
        campaign_key=campaign_key,
        name=name,
        scheduled_at=parse_at(at, app.clock.now()),
        department=department,
        priority=priority,
        dry_run=dry_run,
    )
    with progress_bars(not as_json) as tick:
        result = svc.launch(app, request, state.actor, progress=tick)
    sent: dict[str, int] | None = None
    if wait and not dry_run:
        stats = Worker(app, WorkerOptions(until_idle=True)).run_sync()
        sent = {"sent": stats.sent, "retrying": stats.retrying, "failed": stats.failed}
    refused = result.summary["rows"] - result.summary["eligible"]
    if as_json:
        data = result.as_dict()
        if sent is not None:
            data["dispatched"] = sent
            data["campaign_status"] = svc.campaign_report(app, result.campaign_key).as_dict()
        print_json(data)
        return 1 if refused else 0
    summary = result.summary
    say("cli.send.validated", rows=summary["rows"], eligible=summary["eligible"])
    for code, count in summary["reasons"].items():
        if count:
            say("cli.send.reason", count=count, reason=t(f"reason.{code}", field="…"), code=code)
    if result.template_messages:
        say("cli.send.templates", count=result.template_messages)
    if dry_run:
        say("cli.send.dry_run", campaign=result.campaign_key)
        return 1 if refused else 0
    say(
        "cli.send.created" if result.created else "cli.send.resumed",
        campaign=result.campaign_key,
        tickets=result.tickets_created,
        messages=result.messages_created,
        already=result.already_queued,
    )
    if result.scheduled_at and result.scheduled_at > app.clock.now():
        say("cli.send.scheduled", at=result.scheduled_at.astimezone().strftime("%Y-%m-%d %H:%M"))
    if sent is not None:
        say("cli.send.dispatched", **sent)
    else:
        say("cli.send.next", campaign=result.campaign_key)
    return 1 if refused else 0


@click.command("worker")
@click.option("--concurrency", type=click.IntRange(1, 2000), default=100, show_default=True)
@click.option("--batch", type=click.IntRange(1, 1000), default=100, show_default=True)
@click.option(
    "--lease",
    "lease_seconds",
    type=click.FloatRange(1, 3600),
    default=120,
    show_default=True,
    help="Seconds a claimed message may stay 'sending' before it is 'uncertain'.",
)
@click.option("--poll", type=click.FloatRange(0.01, 60), default=0.5, show_default=True)
@click.option("--until-idle", is_flag=True, help="Stop when nothing is left to send now.")
@click.option("--no-periodic", is_flag=True, help="Do not run the periodic jobs here.")
@click.option(
    "--pace-ahead",
    type=click.FloatRange(0, 5),
    default=1.0,
    show_default=True,
    help="Seconds of a channel's rate to claim ahead; each message then leaves at the "
    "channel's pace, so a slow provider does not slow the rate (0: claim only the tokens "
    "the shared bucket holds now, the plain token bucket).",
)
@needs_app_as_process
def worker(
    state: CliState,
    app: App,
    concurrency: int,
    batch: int,
    lease_seconds: float,
    poll: float,
    until_idle: bool,
    no_periodic: bool,
    pace_ahead: float,
) -> None:
    """The dispatcher: send queued messages at each channel's shared rate limit.

    Run any number of them on PostgreSQL. SIGTERM (or Ctrl+C) finishes the messages in
    flight and claims no new ones.
    """
    require_readable(app)  # with a wrong HDE_SECRET_KEY no channel could send
    configure_logging(logging.INFO)
    runner = Worker(
        app,
        WorkerOptions(
            concurrency=concurrency,
            batch=batch,
            lease=timedelta(seconds=lease_seconds),
            poll_interval=poll,
            until_idle=until_idle,
            run_periodic_jobs=not no_periodic,
            pace_ahead=pace_ahead,
        ),
    )
    warn("cli.worker.started", worker=runner.worker_id)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, runner.stop)
        await runner.run()

    asyncio.run(main())
    s = runner.stats
    warn("cli.worker.stopped", sent=s.sent, retrying=s.retrying, failed=s.failed, held=s.held)


@click.group("campaign")
def campaign() -> None:
    """A bulk run: status, pause, resume, cancel."""


def _show(report: svc.CampaignReport, as_json: bool) -> None:
    if as_json:
        print_json(report.as_dict())
        return
    say(
        "cli.campaign.header",
        campaign=report.key,
        status=t(f"cli.campaign.status.{report.status}"),
        channels=", ".join(report.channels),
        tickets=report.tickets,
    )
    if report.scheduled_at:
        say(
            "cli.campaign.scheduled", at=report.scheduled_at.astimezone().strftime("%Y-%m-%d %H:%M")
        )
    for status, count in report.messages.items():
        if count:
            click.echo(f"  {status:<10} {count}")
    if report.cancelled_now:
        say("cli.campaign.cancelled_count", count=report.cancelled_now)


@campaign.command("status")
@click.argument("key")
@json_option
@needs_app
def campaign_status(state: CliState, app: App, key: str, as_json: bool) -> None:
    """Counts of the campaign's messages per status."""
    _show(svc.campaign_report(app, key), as_json)


@campaign.command("pause")
@click.argument("key")
@json_option
@needs_app
def campaign_pause(state: CliState, app: App, key: str, as_json: bool) -> None:
    """Claim no more of its messages (those being sent finish)."""
    _show(svc.pause(app, key, state.actor), as_json)


@campaign.command("resume")
@click.argument("key")
@json_option
@needs_app
def campaign_resume(state: CliState, app: App, key: str, as_json: bool) -> None:
    _show(svc.resume(app, key, state.actor), as_json)


@campaign.command("cancel")
@click.argument("key")
@json_option
@needs_app
def campaign_cancel(state: CliState, app: App, key: str, as_json: bool) -> None:
    """Unsent messages stay unsent for good; says how many."""
    _show(svc.cancel(app, key, state.actor), as_json)


@click.command("messages")
@click.option("--status", "statuses", multiple=True, help="e.g. uncertain (repeatable).")
@click.option("--campaign", default=None, help="Campaign key.")
@click.option("--channel", default=None, help="Channel name.")
@click.option("--limit", type=click.IntRange(1, 100_000), default=100, show_default=True)
@json_option
@needs_app
def messages(
    state: CliState,
    app: App,
    statuses: tuple[str, ...],
    campaign: str | None,
    channel: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """List messages by status (newest change first)."""
    rows = list(list_messages(app, statuses, campaign=campaign, channel=channel, limit=limit))
    if as_json:
        print_json([r.as_dict() for r in rows])
        return
    if not rows:
        say("cli.campaign.messages_none")
    for r in rows:
        detail = r.error_text or r.provider_message_id or ""
        click.echo(
            f"#{r.id}  ticket #{r.ticket_id}  {r.channel}  {r.recipient}  {r.status}  {detail}".rstrip()
        )


@click.command("resend")
@click.argument("ids", nargs=-1, required=True, type=int)
@json_option
@needs_app
def resend_cmd(state: CliState, app: App, ids: tuple[int, ...], as_json: bool) -> int:
    """Send 'uncertain' messages again, on purpose (team lead)."""
    result = resend(app, ids, state.actor)
    if as_json:
        print_json({"resent": result.resent, "refused": result.refused})
    else:
        if result.resent:
            say(
                "cli.campaign.resend_done",
                count=len(result.resent),
                ids=", ".join(map(str, result.resent)),
            )
        for mid, why in result.refused.items():
            warn("cli.campaign.resend_refused", id=mid, status=why)
    return 1 if result.refused else 0


def register(cli: click.Group) -> None:
    for command in (send, worker, campaign, messages, resend_cmd):
        cli.add_command(command)
