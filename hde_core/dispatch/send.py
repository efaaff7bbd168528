"""Send: each claimed message goes through its channel's adapter; every answer is a typed
outcome (:mod:`hde_core.domain.outcomes`), an adapter bug included."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

import httpx

from hde_core.bootstrap import App
from hde_core.channels.base import ChannelAdapter, ChannelConfig, new_http_client
from hde_core.channels.registry import build_adapter
from hde_core.db.models import Channel
from hde_core.dispatch.claim import Claimed
from hde_core.domain.outcomes import Disconnected, ErrorClass, Retry, SendOutcome
from hde_core.errors import ConfigError
from hde_core.services.channels import channel_config

log = logging.getLogger(__name__)


async def send_one(adapter: ChannelAdapter, claimed: Claimed) -> SendOutcome:
    """Call the adapter; an adapter bug never loses the message (it becomes a capped retry)."""
    try:
        return await adapter.send(claimed.message)
    except ConfigError as exc:
        return Disconnected("config", exc.message("en"))
    except Exception as exc:  # noqa: BLE001 - the message must survive any adapter failure
        log.exception("adapter %s failed on message %s", type(adapter).__name__, claimed.message.id)
        return Retry(ErrorClass.TRANSIENT, "internal", f"{type(exc).__name__}: {exc}")


class AdapterCache:
    """One adapter per channel, rebuilt when the channel's configuration changes."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self._adapters: dict[int, tuple[ChannelConfig, ChannelAdapter]] = {}

    def refresh(self, app: App, channel_ids: Iterable[int]) -> None:
        with app.db.reader() as session:
            for channel_id in set(channel_ids):
                channel = session.get(Channel, channel_id)
                if channel is None:
                    continue
                config = channel_config(session, app.secrets, channel)
                known = self._adapters.get(channel_id)
                if known is None or known[0] != config:
                    self._adapters[channel_id] = (config, build_adapter(config, self.http))

    def get(self, channel_id: int) -> ChannelAdapter:
        return self._adapters[channel_id][1]


async def deliver_claimed(
    app: App, claimed: list[Claimed], http: httpx.AsyncClient | None = None
) -> list[tuple[Claimed, SendOutcome]]:
    """Send claimed messages concurrently, one adapter per channel."""
    own_client = http is None
    client = http or new_http_client()
    try:
        adapters = AdapterCache(client)
        adapters.refresh(app, (c.channel_id for c in claimed))
        outcomes = await asyncio.gather(*(send_one(adapters.get(c.channel_id), c) for c in claimed))
        return list(zip(claimed, outcomes, strict=True))
    finally:
        if own_client:
            await client.aclose()
