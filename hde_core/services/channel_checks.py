"""R14: a channel shows whether it is connected, checked against the provider on save,
from the command line (``hde channel check``) and periodically by the dispatcher.

A check stores ``connection_status`` (connected / error, or unreachable when the server
could not be reached just now: a transient outage keeps the channel sending — rows are
queued and the dispatcher retries — where a refused credential stops it),
``connection_error`` (the provider's answer in plain words) and ``status_checked_at``. A check that succeeds
again reconnects a channel the dispatcher disconnected after an auth error, so its
queued messages go out again. Explicit checks are always audited; the periodic check
is audited only when the status or the error changes (otherwise the trail would fill
with "still connected" every minute).

:func:`register_webhooks` points each channel's provider at our receiver
(``<base>/webhooks/<channel name>``) through the provider's own registration call;
the demo uses it for the sandbox channels at start.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from sqlalchemy import select

from hde_core.bootstrap import App
from hde_core.channels.base import ChannelConfig, new_http_client
from hde_core.channels.registry import build_adapter
from hde_core.channels.words import in_language
from hde_core.channels.words import t as words
from hde_core.db.models import Channel
from hde_core.domain.channels import ConnectionStatus
from hde_core.domain.outcomes import ConnectionCheck
from hde_core.domain.roles import Permission
from hde_core.errors import HdeError
from hde_core.i18n import t
from hde_core.services import audit
from hde_core.services.authz import SYSTEM, WORKER, authorize
from hde_core.services.channels import channel_by_name, channel_config

log = logging.getLogger(__name__)

T = TypeVar("T")

#: How often the dispatcher re-checks every enabled channel (Green-API recommends a minute).
CHECK_INTERVAL_SECONDS = 60.0
#: A check that takes longer than this is a failed check.
CHECK_TIMEOUT_SECONDS = 20.0


@dataclass(frozen=True)
class CheckResult:
    channel: str
    ok: bool
    detail: str
    #: The channel was disconnected and is connected again.
    reconnected: bool = False
    #: The stored status or error changed.
    changed: bool = False


@dataclass(frozen=True)
class WebhookResult:
    channel: str
    ok: bool
    url: str
    detail: str


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to the end from synchronous code, even inside a running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _configs(
    app: App, names: Sequence[str] | None, *, only_enabled: bool, sandbox_only: bool = False
) -> list[ChannelConfig]:
    with app.db.reader() as session:
        if names:
            channels = [channel_by_name(session, name) for name in names]
        else:
            stmt = select(Channel).order_by(Channel.name)
            if only_enabled:
                stmt = stmt.where(Channel.enabled.is_(True))
            if sandbox_only:
                stmt = stmt.where(Channel.is_sandbox.is_(True))
            channels = list(session.scalars(stmt))
        return [channel_config(session, app.secrets, c) for c in channels]


async def _check(config: ChannelConfig, http: httpx.AsyncClient) -> ConnectionCheck:
    """One provider check; whatever goes wrong becomes a failed check in plain words."""
    try:
        adapter = build_adapter(config, http)
        return await asyncio.wait_for(adapter.check_connection(), CHECK_TIMEOUT_SECONDS)
    except HdeError as exc:
        return ConnectionCheck(False, exc.message())
    except TimeoutError:
        return ConnectionCheck(False, words("channels.check.network", error="timeout"))
    except Exception as exc:  # noqa: BLE001 - a broken adapter must not stop the other checks
        log.exception("checking channel %s failed", config.name)
        return ConnectionCheck(False, words("channels.check.failed", error=type(exc).__name__))


async def check_channels_async(
    app: App,
    names: Sequence[str] | None = None,
    *,
    actor: str = SYSTEM,
    audit_unchanged: bool = True,
    http: httpx.AsyncClient | None = None,
) -> list[CheckResult]:
    """Check the named channels (default: every enabled one) and store the results."""
    authorize(app, actor, Permission.CHANNEL_SETTINGS)
    configs = _configs(app, names, only_enabled=not names)
    if not configs:
        return []
    client = http or new_http_client()
    try:
        checks = await asyncio.gather(*(_check(c, client) for c in configs))
    finally:
        if http is None:
            await client.aclose()
    return _store(app, list(zip(configs, checks, strict=True)), actor, audit_unchanged)


def _store(
    app: App,
    results: list[tuple[ChannelConfig, ConnectionCheck]],
    actor: str,
    audit_unchanged: bool,
) -> list[CheckResult]:
    now = app.clock.now()
    out: list[CheckResult] = []
    with app.db.transaction() as session:
        for config, check in results:
            channel = session.get(Channel, config.id)
            if channel is None:  # deleted meanwhile
                continue
            status = (
                ConnectionStatus.CONNECTED
                if check.ok
                else ConnectionStatus.UNREACHABLE
                if check.transient
                else ConnectionStatus.ERROR
            )
            detail = in_language(check.detail, app.lang)
            error = (
                None
                if check.ok
                else (detail or t("channels.check.failed", lang=app.lang, error="?"))
            )
            previous = channel.connection_status
            changed = previous != status.value or channel.connection_error != error
            reconnected = check.ok and previous == ConnectionStatus.ERROR.value
            channel.connection_status = status.value
            channel.connection_error = error
            channel.status_checked_at = now
            if changed or audit_unchanged:
                audit.record(
                    session,
                    audit.Event.CHANNEL_CHECKED,
                    actor,
                    at=now,
                    channel_id=channel.id,
                    ok=check.ok,
                    detail=detail,
                    previous=previous,
                    reconnected=reconnected or None,
                )
            out.append(CheckResult(channel.name, check.ok, detail, reconnected, changed))
    return out


def check_channels(
    app: App,
    names: Sequence[str] | None = None,
    *,
    actor: str = SYSTEM,
    audit_unchanged: bool = True,
) -> list[CheckResult]:
    return run_sync(check_channels_async(app, names, actor=actor, audit_unchanged=audit_unchanged))


def check_channel(app: App, name: str, actor: str) -> CheckResult:
    """Check one channel now (on save, from the CLI). Raises ``NotFound`` for a bad name."""
    return check_channels(app, [name], actor=actor)[0]


def periodic_check(app: App) -> None:
    """The dispatcher's periodic job: every enabled channel, audited on change only."""
    for result in check_channels(app, actor=WORKER, audit_unchanged=False):
        if result.changed:
            log.info("channel %s: %s", result.channel, "connected" if result.ok else result.detail)


# -- webhooks ----------------------------------------------------------------------------


def webhook_url(base_url: str, channel_name: str) -> str:
    return f"{base_url.rstrip('/')}/webhooks/{quote(channel_name, safe='')}"


def _can_register(config: ChannelConfig) -> bool:
    from hde_core.channels.registry import adapter_class

    cls = adapter_class(config.provider)
    if not cls.supports_webhook_registration:
        return False
    return bool(config.webhook_secret) or not cls.webhook_needs_secret


async def register_webhooks_async(
    app: App,
    base_url: str,
    names: Sequence[str] | None = None,
    *,
    sandbox_only: bool = False,
    actor: str = SYSTEM,
) -> list[WebhookResult]:
    """Register ``<base_url>/webhooks/<name>`` at the provider of each channel that can
    verify its webhooks (a webhook secret, or a provider that signs with the credentials).

    Named channels are always tried (and a missing secret is reported); without names,
    every enabled channel that qualifies (only sandbox ones with ``sandbox_only``).
    """
    authorize(app, actor, Permission.CHANNEL_SETTINGS)
    configs = _configs(app, names, only_enabled=not names, sandbox_only=sandbox_only)
    if not names:
        configs = [c for c in configs if _can_register(c)]
    results: list[WebhookResult] = []
    async with new_http_client() as client:
        for config in configs:  # one by one: a provider may call our receiver back
            url = webhook_url(base_url, config.name)
            try:
                adapter = build_adapter(config, client)
                if not adapter.supports_webhook_registration:
                    check = ConnectionCheck(False, words("channels.webhook.unsupported"))
                else:
                    check = await adapter.register_webhook(url)
            except HdeError as exc:
                check = ConnectionCheck(False, exc.message())
            results.append(
                WebhookResult(config.name, check.ok, url, in_language(check.detail, app.lang))
            )
    now = app.clock.now()
    with app.db.transaction() as session:
        for config, result in zip(configs, results, strict=True):
            audit.record(
                session,
                audit.Event.SETTINGS_CHANGED,
                actor,
                at=now,
                channel_id=config.id,
                setting="webhook",
                url=result.url,
                ok=result.ok,
                detail=None if result.ok else result.detail,
            )
    return results


def register_webhooks(
    app: App,
    base_url: str,
    names: Sequence[str] | None = None,
    *,
    sandbox_only: bool = False,
    actor: str = SYSTEM,
) -> list[WebhookResult]:
    return run_sync(
        register_webhooks_async(app, base_url, names, sandbox_only=sandbox_only, actor=actor)
    )
