"""Messenger channels from the command line: connection checks (R14), webhook
registration, the R10 initiation switch, and Telegram long polling (``hde poll``)."""

from __future__ import annotations

import threading
from collections import Counter

import click

from hde_core.bootstrap import App
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
from hde_core.services.channel_checks import check_channels, register_webhooks
from hde_core.services.channel_settings import set_initiation
from hde_core.services.polling import PollReport, poll


def channel_group(cli: click.Group) -> click.Group:
    """``hde channel …`` is shared with other modules: join the group if it exists."""
    group = cli.commands.get("channel")
    if not isinstance(group, click.Group):
        group = click.Group("channel", help="Channel settings.")
        cli.add_command(group)
    return group


@click.command("check")
@click.argument("names", nargs=-1)
@json_option
@needs_app
def check_cmd(state: CliState, app: App, names: tuple[str, ...], as_json: bool) -> int:
    """Check the connection of the named channels (default: every enabled one) now."""
    results = check_channels(app, list(names) or None, actor=state.actor)
    if as_json:
        print_json([r.__dict__ for r in results])
    elif not results:
        say("cli.channel.none")
    for r in results if not as_json else []:
        if r.ok:
            say("cli.channel.connected", name=r.channel, detail=r.detail)
            if r.reconnected:
                say("cli.channel.reconnected", name=r.channel)
        else:
            warn("cli.channel.error", name=r.channel, detail=r.detail)
    return 0 if all(r.ok for r in results) else 1


@click.command("webhook")
@click.argument("names", nargs=-1)
@click.option(
    "--public-url",
    default=None,
    help="Where providers reach this deployment's receiver (default: HDE_PUBLIC_URL).",
)
@json_option
@needs_app
def webhook_cmd(
    state: CliState, app: App, names: tuple[str, ...], public_url: str | None, as_json: bool
) -> int:
    """Register <public URL>/webhooks/<channel> at the provider (Telegram, Viber, Green-API)."""
    base = public_url or app.settings.public_url
    if not base.startswith(("http://", "https://")):
        raise UsageError("cli.channel.public_url_invalid", url=base)
    results = register_webhooks(app, base, list(names) or None, actor=state.actor)
    if as_json:
        print_json([r.__dict__ for r in results])
    for r in results if not as_json else []:
        if r.ok:
            say("cli.channel.webhook_set", name=r.channel, url=r.url)
        else:
            warn("cli.channel.webhook_failed", name=r.channel, detail=r.detail)
    return 0 if all(r.ok for r in results) else 1


@click.command("initiation")
@click.argument("name")
@click.option("--enable/--disable", required=True, help="Allow writing to clients first.")
@click.option(
    "--acknowledge-risk",
    is_flag=True,
    help="Accept that WhatsApp may ban the number for good (needed to enable).",
)
@json_option
@needs_app
def initiation_cmd(
    state: CliState, app: App, name: str, enable: bool, acknowledge_risk: bool, as_json: bool
) -> None:
    """R10: let an unofficial WhatsApp channel start conversations (team lead)."""
    result = set_initiation(app, name, enable, state.actor, acknowledge_risk=acknowledge_risk)
    if as_json:
        print_json(
            {
                "channel": result.channel,
                "initiation_enabled": result.enabled,
                "risk_ack_by": result.risk_ack_by,
                "risk_ack_at": result.risk_ack_at.isoformat() if result.risk_ack_at else None,
            }
        )
    elif result.enabled:
        at = result.risk_ack_at.strftime("%Y-%m-%d %H:%M UTC") if result.risk_ack_at else ""
        say("cli.channel.initiation_enabled", name=result.channel, by=result.risk_ack_by, at=at)
    else:
        say("cli.channel.initiation_disabled", name=result.channel)


def _summary(counts: Counter[str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "—"


@click.command("poll")
@click.option("--channel", "channel", required=True, help="Telegram channel name.")
@click.option("--once", is_flag=True, help="Receive what is waiting now, then stop.")
@click.option("--timeout", default=30, show_default=True, type=click.IntRange(0, 50))
@click.option(
    "--delete-webhook", is_flag=True, help="Remove the bot's webhook first (Telegram needs that)."
)
@json_option
@needs_app_as_process
def poll_cmd(
    state: CliState,
    app: App,
    channel: str,
    once: bool,
    timeout: int,
    delete_webhook: bool,
    as_json: bool,
) -> None:
    """Receive Telegram updates by long polling (when there is no public URL for webhooks)."""
    report = PollReport()
    stop = threading.Event()
    if not once and not as_json:
        say("cli.poll.started", name=channel)

    def batch(count: int, counts: Counter[str]) -> None:
        if not as_json:
            say("cli.poll.batch", count=count, summary=_summary(counts))

    def trouble(error: str, seconds: float) -> None:
        warn("cli.poll.network", error=error, seconds=round(seconds))

    try:
        poll(
            app,
            channel,
            once=once,
            timeout=timeout,
            delete_webhook=delete_webhook,
            stop=stop,
            on_batch=batch,
            on_network_error=trouble,
            report=report,
        )
    except KeyboardInterrupt:
        stop.set()
    if as_json:
        print_json({"updates": report.updates, "recorded": dict(report.counts)})
    else:
        say("cli.poll.done", count=report.updates)


def register(cli: click.Group) -> None:
    group = channel_group(cli)
    for command in (check_cmd, webhook_cmd, initiation_cmd):
        group.add_command(command)
    cli.add_command(poll_cmd)
