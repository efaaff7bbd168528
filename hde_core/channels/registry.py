"""Which adapter class serves which provider: an explicit table, not directory scanning."""

from __future__ import annotations

import httpx

from hde_core.channels.base import ChannelAdapter, ChannelConfig
from hde_core.channels.dialog360 import Dialog360Adapter
from hde_core.channels.email import EmailAdapter
from hde_core.channels.greenapi import GreenApiAdapter
from hde_core.channels.meta_cloud import MetaCloudAdapter
from hde_core.channels.telegram import TelegramAdapter
from hde_core.channels.viber import ViberAdapter
from hde_core.domain.channels import Provider
from hde_core.errors import ConfigError

ADAPTERS: dict[Provider, type[ChannelAdapter]] = {
    Provider.SMTP: EmailAdapter,
    Provider.META_CLOUD: MetaCloudAdapter,
    Provider.DIALOG360: Dialog360Adapter,
    Provider.TELEGRAM: TelegramAdapter,
    Provider.VIBER: ViberAdapter,
    Provider.GREEN_API: GreenApiAdapter,
}


def adapter_class(provider: Provider | str) -> type[ChannelAdapter]:
    try:
        return ADAPTERS[Provider(provider)]
    except (KeyError, ValueError) as exc:
        raise ConfigError("error.provider_not_supported", provider=str(provider)) from exc


def build_adapter(config: ChannelConfig, http: httpx.AsyncClient | None = None) -> ChannelAdapter:
    return adapter_class(config.provider)(config, http)
