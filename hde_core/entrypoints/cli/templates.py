"""WhatsApp Business from the command line: templates (R11), channel window settings
(R11/R12) and the template price table (R13).

    hde templates sync [--channel NAME] [--json]
    hde templates list [--channel NAME] [--approved] [--json]
    hde channel wa-settings NAME [--acknowledge-rules] [--default-template NAME:LANG]
                                 [--param NAME=EXPRESSION]… [--send-after-template|--hold-until-reply]
    hde prices list [--json] | hde prices set CATEGORY PRICE [--country XX] [--currency USD]
                             | hde prices delete CATEGORY [--country XX]
"""

from __future__ import annotations

from typing import Any

import click

from hde_core.bootstrap import App
from hde_core.entrypoints.cli.common import CliState, json_option, needs_app, print_json, say, warn
from hde_core.errors import UsageError
from hde_core.services.pricing import delete_price, list_prices, set_price
from hde_core.services.templates import sync_templates, template_rows
from hde_core.services.wa_settings import WaSettings, get_wa_settings, update_wa_settings


@click.group()
def templates() -> None:
    """WhatsApp Business message templates (synced from the provider)."""


@templates.command("sync")
@click.option("--channel", default=None, help="One WhatsApp Business channel (default: all).")
@json_option
@needs_app
def sync_cmd(state: CliState, app: App, channel: str | None, as_json: bool) -> int:
    """Pull templates from the provider now."""
    reports = sync_templates(app, channel, actor=state.actor)
    ok = all(r.ok for r in reports)
    if as_json:
        print_json({"ok": ok, "channels": [r.as_dict() for r in reports]})
        return 0 if ok else 1
    if not reports:
        say("cli.templates.no_channels")
    for r in reports:
        if not r.ok:
            warn("cli.templates.sync_failed", channel=r.channel, error=r.error)
            continue
        say(
            "cli.templates.synced",
            channel=r.channel,
            total=r.total,
            created=r.created,
            updated=r.updated,
            gone=r.marked_gone + r.deleted,
        )
        for change in r.status_changes:
            say("cli.templates.status_change", change=change)
        if r.default_resolved:
            say("cli.templates.default_resolved", template=r.default_resolved)
    return 0 if ok else 1


@templates.command("list")
@click.option("--channel", default=None, help="One WhatsApp Business channel (default: all).")
@click.option("--approved", is_flag=True, help="Only templates that can be sent.")
@json_option
@needs_app
def list_cmd(state: CliState, app: App, channel: str | None, approved: bool, as_json: bool) -> None:
    """Templates stored from the last sync (the channel's default first)."""
    rows = template_rows(app, channel, approved_only=approved)
    if as_json:
        print_json(rows)
        return
    if not rows:
        say("cli.templates.none")
        return
    for r in rows:
        say(
            "cli.templates.row",
            default="*" if r["default"] else " ",
            channel=r["channel"],
            name=r["name"],
            language=r["language"],
            status=r["status"],
            category=r["category"],
            params=", ".join(r["params"]) or "—",
        )
        if r["body"]:
            click.echo(f"      {r['body']}")


def parse_params(values: tuple[str, ...]) -> dict[str, str]:
    params: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError("cli.templates.param_syntax", item=item)
        params[key.strip()] = value.strip()
    return params


def show_settings(s: WaSettings) -> None:
    if s.rules_acknowledged_at:
        say(
            "cli.templates.settings.rules_ok",
            by=s.rules_acknowledged_by,
            at=f"{s.rules_acknowledged_at:%Y-%m-%d %H:%M} UTC",
        )
    else:
        say("cli.templates.settings.rules_missing")
    if s.default_template:
        say(
            "cli.templates.settings.default",
            template=s.default_template,
            status=s.default_template_status,
            category=s.default_template_category,
        )
    else:
        say("cli.templates.settings.no_default")
    for name, expression in s.default_template_params.items():
        say("cli.templates.settings.param", name=name, expression=expression)
    if s.unmapped_params:
        say("cli.templates.settings.unmapped", params=", ".join(s.unmapped_params))
    if s.preview:
        say("cli.templates.settings.preview", text=s.preview)
    say(
        "cli.templates.settings.after_template_send"
        if s.send_after_template
        else "cli.templates.settings.after_template_hold"
    )
    say("cli.templates.settings.ready" if s.ready else "cli.templates.settings.not_ready")


@click.command("wa-settings")
@click.argument("name")
@click.option(
    "--acknowledge-rules", is_flag=True, help="Record that you accept WhatsApp's template rules."
)
@click.option("--withdraw-rules", is_flag=True, help="Withdraw the acknowledgement.")
@click.option(
    "--default-template",
    metavar="NAME:LANG",
    default=None,
    help="The APPROVED template sent first when the 24-hour window is closed ('' clears).",
)
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="NAME=EXPRESSION",
    help="Value of a default-template parameter, e.g. 1='{{ contact.name }}' (repeatable).",
)
@click.option(
    "--send-after-template/--hold-until-reply",
    default=None,
    help="After the template: send the message at once, or hold it until the client replies.",
)
@json_option
@needs_app
def wa_settings_cmd(
    state: CliState,
    app: App,
    name: str,
    acknowledge_rules: bool,
    withdraw_rules: bool,
    default_template: str | None,
    params: tuple[str, ...],
    send_after_template: bool | None,
    as_json: bool,
) -> None:
    """Show or change a WhatsApp Business channel's template and window settings (team lead)."""
    if acknowledge_rules and withdraw_rules:
        raise UsageError("cli.templates.rules_both")
    ack: bool | None = True if acknowledge_rules else False if withdraw_rules else None
    changing = (
        ack is not None or default_template is not None or params or send_after_template is not None
    )
    if changing:
        result = update_wa_settings(
            app,
            name,
            state.actor,
            acknowledge_rules=ack,
            default_template=default_template,
            params=parse_params(params),
            send_after_template=send_after_template,
        )
    else:
        result = get_wa_settings(app, name)
    if as_json:
        print_json(result.as_dict())
        return
    for change in result.changes:
        say("cli.templates.settings.changed", change=change)
    show_settings(result)


@click.group()
def prices() -> None:
    """Template message prices per category and country (for cost estimates)."""


@prices.command("list")
@json_option
@needs_app
def prices_list(state: CliState, app: App, as_json: bool) -> None:
    """The price table."""
    rows: list[dict[str, Any]] = list_prices(app)
    if as_json:
        print_json(rows)
        return
    if not rows:
        say("cli.templates.prices.none")
    for r in rows:
        say("cli.templates.prices.row", **r)


@prices.command("set")
@click.argument("category")
@click.argument("price")
@click.option("--country", default="*", show_default=True, help="ISO country code, or * for all.")
@click.option("--currency", default="USD", show_default=True)
@needs_app
def prices_set(
    state: CliState, app: App, category: str, price: str, country: str, currency: str
) -> None:
    """Set the price of one template message of CATEGORY (marketing, utility, authentication)."""
    set_price(app, category, price, state.actor, country=country, currency=currency)
    say("cli.templates.prices.saved", category=category.lower(), country=country.upper())


@prices.command("delete")
@click.argument("category")
@click.option("--country", default="*", show_default=True)
@needs_app
def prices_delete(state: CliState, app: App, category: str, country: str) -> int:
    """Remove one price."""
    if delete_price(app, category, state.actor, country=country):
        say("cli.templates.prices.deleted", category=category.lower(), country=country.upper())
        return 0
    warn("cli.templates.prices.not_found", category=category.lower(), country=country.upper())
    return 1


def register(cli: click.Group) -> None:
    cli.add_command(templates)
    cli.add_command(prices)
    # ``hde channel …`` belongs to the channels module; join its group when it exists.
    group = cli.commands.get("channel")
    if not isinstance(group, click.Group):
        group = click.Group("channel", help="Channel settings.")
        cli.add_command(group)
    group.add_command(wa_settings_cmd)
