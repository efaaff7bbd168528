"""``hde tickets …`` and ``hde reply``: the conversation from the command line (issue 17.7).

``hde ticket`` (singular) keeps initiating a ticket.
"""

from __future__ import annotations

from pathlib import Path

import click

from hde_core.bootstrap import App
from hde_core.dispatch.immediate import deliver_now
from hde_core.entrypoints.cli.common import CliState, json_option, needs_app, print_json, say, warn
from hde_core.entrypoints.cli.tickets import field_error_text, parse_fields
from hde_core.errors import Refused
from hde_core.i18n import t
from hde_core.services.conversation import analytics, assign, queries
from hde_core.services.conversation.reply import ReplyRefused, reply

STATUSES = ("waiting", "replied", "in_progress", "closed")


def _when(value: object) -> str:
    from datetime import datetime

    return value.astimezone().strftime("%Y-%m-%d %H:%M") if isinstance(value, datetime) else "—"


def _status(value: str) -> str:
    return t(f"conversation.status.{value}")


@click.group("tickets")
def tickets() -> None:
    """The conversations: list, show, assign, move; replies per campaign."""


@tickets.command("list")
@click.option("--status", type=click.Choice(STATUSES), default=None)
@click.option("--campaign", default=None, help="Campaign key.")
@click.option("--channel", default=None, help="Channel name.")
@click.option("--assignee", default=None, help="Login, or - for unassigned tickets.")
@click.option("--window", type=click.Choice(["open", "closing"]), default=None)
@click.option("--page", default=1, show_default=True, type=click.IntRange(min=1))
@click.option("--per-page", default=50, show_default=True, type=click.IntRange(1, 200))
@json_option
@needs_app
def tickets_list(
    state: CliState,
    app: App,
    status: str | None,
    campaign: str | None,
    channel: str | None,
    assignee: str | None,
    window: str | None,
    page: int,
    per_page: int,
    as_json: bool,
) -> int:
    """Tickets, newest activity first (yours first), with counts per status."""
    filters = queries.TicketFilter(status, channel, campaign, assignee, window)
    result = queries.list_tickets(app, filters, page, per_page, mine_first=state.actor)
    if as_json:
        print_json(result.as_dict())
        return 0
    say(
        "conversation.cli.counts",
        **{s: result.counts.get(s, 0) for s in STATUSES},
        total=result.total,
        page=result.page,
        pages=result.pages,
    )
    for row in result.rows:
        click.echo(
            f"{row.id:>8}  {_status(row.status):<22} {row.channel:<14} "
            f"{(row.contact or row.address)[:24]:<24} {row.assignee or '—':<12} "
            f"{_when(row.last_activity_at)}  {row.subject[:50]}"
        )
    return 0


@tickets.command("show")
@click.argument("ticket_id", type=int)
@json_option
@needs_app
def tickets_show(state: CliState, app: App, ticket_id: int, as_json: bool) -> int:
    """One ticket: its thread in order, who has it, the contact's other channels."""
    thread = queries.ticket_thread(app, ticket_id)
    if as_json:
        print_json(thread.as_dict())
        return 0
    row = thread.ticket
    say(
        "conversation.cli.header",
        id=row.id,
        subject=row.subject,
        status=_status(row.status),
        channel=row.channel,
        to=row.address,
        assignee=row.assignee or "—",
        campaign=row.campaign or "—",
    )
    if row.window_closes_at:
        say("conversation.cli.window", at=_when(row.window_closes_at))
    for e in thread.entries:
        who = t("conversation.cli.we") if e.ours else t("conversation.cli.client")
        state_word = f" [{e.status}]" if e.ours else (" [auto]" if e.auto_reply else "")
        click.echo(f"{_when(e.at)}  {who}{state_word}: {e.text}")
        if e.error:
            click.echo(f"    {e.error}")
    for channel, address in thread.other_channels:
        say("conversation.cli.other_channel", channel=channel, address=address)
    return 0


@tickets.command("assign")
@click.argument("ticket_id", type=int)
@click.argument("login")
@needs_app
def tickets_assign(state: CliState, app: App, ticket_id: int, login: str) -> int:
    """Give the ticket to LOGIN (- for nobody)."""
    try:
        who = assign.assign(app, state.actor, ticket_id, None if login == "-" else login)
    except Refused as exc:
        return _refused(exc, False)
    say("conversation.cli.assigned", id=ticket_id, login=who or "—")
    return 0


@tickets.command("status")
@click.argument("ticket_id", type=int)
@click.argument("status", type=click.Choice(STATUSES))
@needs_app
def tickets_status(state: CliState, app: App, ticket_id: int, status: str) -> int:
    """Move the ticket to STATUS."""
    try:
        new = assign.set_status(app, state.actor, ticket_id, status)
    except Refused as exc:
        return _refused(exc, False)
    say("conversation.cli.moved", id=ticket_id, status=_status(new))
    return 0


@tickets.command("replies")
@click.argument("campaign")
@click.option(
    "--export",
    "export",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write who replied to FILE (.csv or .xlsx).",
)
@json_option
@needs_app
def tickets_replies(
    state: CliState, app: App, campaign: str, export: Path | None, as_json: bool
) -> int:
    """Replies to a campaign per channel: sent → delivered → read → replied, rate, median."""
    stats = analytics.campaign_replies(app, campaign)
    written = analytics.export_replied(app, campaign, export) if export else None
    if as_json:
        print_json(
            {"campaign": campaign, "channels": [s.as_dict() for s in stats], "exported": written}
        )
        return 0
    for s in stats:
        rate = f"{s.rate:.1%}" if s.rate is not None else "—"
        median = f"{s.median_reply_seconds / 60:.1f}" if s.median_reply_seconds is not None else "—"
        say(
            "conversation.cli.replies",
            channel=s.channel or t("conversation.cli.all_channels"),
            sent=s.sent,
            delivered=s.delivered,
            read=s.read,
            replied=s.replied,
            rate=rate,
            minutes=median,
        )
    if written is not None:
        say("conversation.cli.exported", count=written, path=str(export))
    return 0


@tickets.command("assignment")
@click.argument("campaign")
@click.argument("mode", type=click.Choice([m.value for m in assign.ReplyAssignment]))
@needs_app
def tickets_assignment(state: CliState, app: App, campaign: str, mode: str) -> int:
    """Who answers CAMPAIGN's replies: its owner, or round_robin among the agents."""
    try:
        assign.set_reply_assignment(app, state.actor, campaign, mode)
    except Refused as exc:
        return _refused(exc, False)
    say("conversation.cli.assignment", campaign=campaign, mode=mode)
    return 0


def _refused(exc: Refused, as_json: bool, extra: dict[str, object] | None = None) -> int:
    if as_json:
        print_json(
            {
                "ok": False,
                "errors": [
                    {"field": e.field, "code": e.code, "message": field_error_text(e)}
                    for e in exc.errors
                ],
                **(extra or {}),
            }
        )
        return 1
    click.echo(exc.message(), err=True)
    for e in exc.errors:
        click.echo(f"  - {field_error_text(e)}", err=True)
    return 1


@click.command("reply")
@click.argument("ticket_id", type=int)
@click.option(
    "--body", default=None, help="Free text (email always; WhatsApp Business inside the window)."
)
@click.option("--template", default=None, help="Approved template NAME or NAME:LANGUAGE.")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE", help="Template parameter.")
@click.option(
    "--submission-key",
    default=None,
    help="Makes the answer once: the same key again returns the message already queued.",
)
@click.option("--queue-only", is_flag=True, help="Queue it for the dispatcher; do not send now.")
@json_option
@needs_app
def reply_command(
    state: CliState,
    app: App,
    ticket_id: int,
    body: str | None,
    template: str | None,
    params: tuple[str, ...],
    submission_key: str | None,
    queue_only: bool,
    as_json: bool,
) -> int:
    """Answer the client of ticket N, through the outbox (sent now unless --queue-only)."""
    try:
        result = reply(
            app,
            state.actor,
            ticket_id,
            body=body,
            template=template,
            params=parse_fields(params),
            submission_key=submission_key,
        )
    except ReplyRefused as exc:
        code = _refused(exc, as_json, {"options": exc.options.as_dict()})
        if not as_json and exc.options.templates:
            warn("conversation.cli.templates_offered")
            for option in exc.options.templates:
                cost = f" — {option.cost} {option.currency}" if option.cost else ""
                params_hint = " ".join(f"--param {p}=…" for p in option.params)
                click.echo(f"  --template {option.ref} {params_hint}{cost}", err=True)
        return code
    except Refused as exc:
        return _refused(exc, as_json)
    if not queue_only and not result.duplicate:
        deliver_now(app, [result.message_id])
    final = queries.message_status(app, result.message_id)
    if as_json:
        print_json({"ok": final != "failed", **result.as_dict(), "status": final})
        return 1 if final == "failed" else 0
    key = "conversation.cli.duplicate" if result.duplicate else "conversation.cli.replied"
    say(key, id=ticket_id, message=result.message_id, status=final)
    return 1 if final == "failed" else 0


def register(cli: click.Group) -> None:
    cli.add_command(tickets)
    cli.add_command(reply_command)
