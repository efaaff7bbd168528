"""Channel kinds (R1) and the providers that implement them."""

from __future__ import annotations

from enum import StrEnum


class ChannelKind(StrEnum):
    EMAIL = "email"
    TELEGRAM = "telegram"
    VIBER = "viber"
    WHATSAPP = "whatsapp"  # unofficial ("gray") API such as Green-API
    WA_BUSINESS = "wa_business"  # official WhatsApp Business API


class Provider(StrEnum):
    SMTP = "smtp"
    TELEGRAM = "telegram"
    VIBER = "viber"
    GREEN_API = "green_api"
    META_CLOUD = "meta_cloud"
    DIALOG360 = "360dialog"


#: Which providers may implement which kind of channel.
PROVIDERS_BY_KIND: dict[ChannelKind, tuple[Provider, ...]] = {
    ChannelKind.EMAIL: (Provider.SMTP,),
    ChannelKind.TELEGRAM: (Provider.TELEGRAM,),
    ChannelKind.VIBER: (Provider.VIBER,),
    ChannelKind.WHATSAPP: (Provider.GREEN_API,),
    ChannelKind.WA_BUSINESS: (Provider.META_CLOUD, Provider.DIALOG360),
}

#: Messenger channels: a conversation may be opened only with a contact who wrote first (R3).
MESSENGER_KINDS = frozenset(
    {ChannelKind.TELEGRAM, ChannelKind.VIBER, ChannelKind.WHATSAPP, ChannelKind.WA_BUSINESS}
)

#: Channels whose recipient is a phone number.
PHONE_KINDS = frozenset({ChannelKind.WHATSAPP, ChannelKind.WA_BUSINESS})


def requires_prior_contact(kind: ChannelKind) -> bool:
    return kind in MESSENGER_KINDS


class ConnectionStatus(StrEnum):
    UNKNOWN = "unknown"
    CONNECTED = "connected"
    #: The credentials or the configuration were refused: nothing is sent until fixed.
    ERROR = "error"
    #: The server could not be reached just now (network, timeout, a short outage): rows
    #: are still queued and the dispatcher keeps retrying them with its backoff.
    UNREACHABLE = "unreachable"
