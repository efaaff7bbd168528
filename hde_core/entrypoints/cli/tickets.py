"""``hde ticket``: initiate one ticket (R2–R8, R12)."""

from __future__ import annotations

import click

from hde_core.bootstrap import App
from hde_core.dispatch.immediate import initiate_ticket
from hde_core.domain.tickets import FieldError
from hde_core.entrypoints.cli.common import CliState, json_option, needs_app, print_json, say, warn
from hde_core.errors import Refused, UsageError
from hde_core.services.tickets import TicketRequest


def field_error_text(error: FieldError) -> str:
    return error.message()


def parse_fields(values: tuple[str, ...]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError("error.field_syntax", item=item)
        fields[key.strip()] = value
    return fields


@click.command()
@click.option("--channel", required=True, help="Channel name.")
@click.option("--to", "to", required=True, help="Email, phone, Telegram id/@username or Viber id.")
@click.option("--subject", default=None)
@click.option("--body", default=None)
@click.option(
    "--department", default=None, help="Department (decides the sender mailbox for email)."
)
@click.option("--priority", default=None, help="low, normal, high or urgent.")
@click.option("--assignee", default=None, help="Login of the agent responsible.")
@click.option(
    "--field", "fields", multiple=True, metavar="KEY=VALUE", help="Custom field (repeatable)."
)
@click.option(
    "--send-email/--no-send-email",
    default=True,
    show_default=True,
    help="Email the client (email channel only).",
)
@click.option("--from-client", is_flag=True, help="Record the ticket as written by the client.")
@click.option("--name", "contact_name", default=None, help="Client's name for a new contact.")
@json_option
@needs_app
def ticket(
    state: CliState,
    app: App,
    channel: str,
    to: str,
    subject: str | None,
    body: str | None,
    department: str | None,
    priority: str | None,
    assignee: str | None,
    fields: tuple[str, ...],
    send_email: bool,
    from_client: bool,
    contact_name: str | None,
    as_json: bool,
) -> int:
    """Initiate one ticket and send its message now."""
    request = TicketRequest(
        channel=channel,
        to=to,
        subject=subject,
        body=body,
        department=department,
        priority=priority,
        assignee=assignee,
        fields=parse_fields(fields),
        send_email=send_email,
        from_client=from_client,
        contact_name=contact_name,
    )
    try:
        result = initiate_ticket(app, request, state.actor)
    except Refused as exc:
        if as_json:
            print_json(
                {
                    "ok": False,
                    "errors": [
                        {"field": e.field, "code": e.code, "message": field_error_text(e)}
                        for e in exc.errors
                    ],
                }
            )
        else:
            warn("cli.ticket.refused")
            for e in exc.errors:
                click.echo(f"  - {field_error_text(e)}", err=True)
        return 1
    failed = any(m.status == "failed" for m in result.messages)
    if as_json:
        print_json({"ok": not failed, **result.as_dict()})
        return 1 if failed else 0
    say("cli.ticket.created", id=result.ticket_id, channel=result.channel, to=result.recipient)
    if result.email_skipped:
        say(f"cli.ticket.skipped.{result.email_skipped}")
    for m in result.messages:
        say(
            f"cli.ticket.message.{m.status}",
            kind=m.kind,
            id=m.id,
            provider_id=m.provider_message_id or "",
            error=m.error_text or "",
        )
    return 1 if failed else 0


def register(cli: click.Group) -> None:
    cli.add_command(ticket)
