"""``hde poll``: receive Telegram updates by long polling, for deployments that have no
public URL for webhooks.

Each ``getUpdates`` batch is parsed by the same code as the webhook
(:func:`hde_core.channels.telegram.parse_update`) and recorded through
:func:`hde_core.services.webhooks.record_events` in one transaction; only then is
it confirmed, by asking for the next batch with ``offset`` = last ``update_id`` + 1.
A crash between recording and confirming redelivers the batch, which is harmless:
recording is idempotent (inbound messages are deduplicated by their id).

Telegram refuses ``getUpdates`` while a webhook is set (409); ``delete_webhook``
removes it first.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from hde_core.bootstrap import App
from hde_core.channels.base import new_http_client
from hde_core.channels.telegram import Polled, TelegramAdapter, parse_update
from hde_core.domain import events as ev
from hde_core.domain.channels import ChannelKind
from hde_core.domain.outcomes import ErrorClass
from hde_core.errors import HdeError, UsageError
from hde_core.services.channels import channel_by_name, channel_config
from hde_core.services.webhooks import record_events

log = logging.getLogger(__name__)

#: Seconds to wait after a network failure before asking again.
NETWORK_PAUSE = 5.0


class PollRefused(HdeError):
    """Telegram refuses long polling for this bot (webhook set, token rejected): exit 1."""

    exit_code = 1


@dataclass
class PollReport:
    updates: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    #: The next offset to ask for (every update before it is confirmed).
    offset: int | None = None


def _events(updates: list[dict[str, object]]) -> list[ev.WebhookEvent]:
    events: list[ev.WebhookEvent] = []
    for update in updates:
        try:
            events += parse_update(update)  # type: ignore[arg-type]
        except (KeyError, TypeError, ValueError) as exc:  # one odd update must not block the rest
            log.warning("skipped Telegram update %s: %s", update.get("update_id"), exc)
    return events


async def poll_async(
    app: App,
    channel_name: str,
    *,
    once: bool = False,
    timeout: int = 30,
    delete_webhook: bool = False,
    stop: threading.Event | None = None,
    on_batch: Callable[[int, Counter[str]], None] | None = None,
    on_network_error: Callable[[str, float], None] | None = None,
    report: PollReport | None = None,
) -> PollReport:
    """Poll until ``stop`` is set (or one batch with ``once``); returns what was received
    (also kept in ``report`` as it goes, for a caller interrupted by Ctrl+C)."""
    with app.db.reader() as session:
        channel = channel_by_name(session, channel_name)
        if channel.kind != ChannelKind.TELEGRAM.value:
            raise UsageError("channels.poll.not_telegram", name=channel.name)
        config = channel_config(session, app.secrets, channel)
    report = report if report is not None else PollReport()
    async with new_http_client() as http:
        adapter = TelegramAdapter(config, http)
        if delete_webhook:
            deleted = await adapter.delete_webhook()
            if not deleted.ok:
                raise PollRefused("channels.poll.auth", error=deleted.detail)
        while stop is None or not stop.is_set():
            polled = await adapter.get_updates(report.offset, 0 if once else timeout)
            pause = _trouble(polled)
            if pause is not None:
                if once:
                    raise PollRefused("channels.check.network", error=polled.network_error or "")
                if on_network_error:
                    on_network_error(polled.network_error or str(polled.error), pause)
                await asyncio.sleep(pause)
                continue
            if polled.updates:
                counts = record_events(app, config.id, _events(polled.updates))
                report.updates += len(polled.updates)
                report.counts.update(counts)
                report.offset = max(int(u["update_id"]) for u in polled.updates) + 1
                if on_batch:
                    on_batch(len(polled.updates), counts)
            if once:
                break
        if report.offset is not None:  # confirm what was recorded before leaving
            await adapter.get_updates(report.offset, 0, limit=1)
    return report


def _trouble(polled: Polled) -> float | None:
    """Seconds to pause before asking again, or None when the batch is usable.

    Raises :class:`PollRefused` for answers that waiting does not fix.
    """
    if polled.network_error is not None:
        return NETWORK_PAUSE
    error = polled.error
    if error is None:
        return None
    if error.code == 409:
        raise PollRefused("channels.poll.conflict")
    if error.error_class == ErrorClass.AUTH:
        raise PollRefused("channels.poll.auth", error=error.text)
    if error.error_class in (ErrorClass.RATE_LIMITED, ErrorClass.TRANSIENT):
        return error.retry_after or NETWORK_PAUSE
    raise PollRefused("channels.check.provider_error", error=error.text)


def poll(app: App, channel_name: str, **kwargs: object) -> PollReport:
    return asyncio.run(poll_async(app, channel_name, **kwargs))  # type: ignore[arg-type]
