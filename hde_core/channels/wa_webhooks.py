"""WhatsApp Business webhooks (Meta Cloud API; 360dialog forwards the same envelope).

- ``X-Hub-Signature-256: sha256=<hex>`` = HMAC-SHA256(app secret, raw body), and
  Meta's GET ``hub.challenge`` subscription check;
- ``messages`` → :class:`InboundMessage` (a group message, with ``group_id``, is not the
  client writing to us: skipped), ``statuses`` → :class:`StatusUpdate`, ``errors`` logged.

A ``failed`` status reads its ``errors[].code`` through the adapter's error table —
the one the send path reads — so 132001 is ``template_rejected``, 131049 and 131000
are retried later, 131050 is an opt-out, exactly as if the send call had answered it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from hde_core.channels.base import constant_time_equals, hmac_sha256_hex, unix_time
from hde_core.channels.errors import ErrorTable, status_fields
from hde_core.channels.wa_errors import META_ERRORS, error_entry
from hde_core.domain.events import InboundMessage, StatusUpdate, WebhookEvent
from hde_core.domain.statuses import MessageStatus

log = logging.getLogger(__name__)

#: Cloud API status words → our lifecycle. ``deleted`` (the client deleted it) changes nothing.
STATUS_MAP: dict[str, MessageStatus] = {
    "sent": MessageStatus.SENT,
    "delivered": MessageStatus.DELIVERED,
    "read": MessageStatus.READ,
    "played": MessageStatus.READ,
    "failed": MessageStatus.FAILED,
}


def verify_signature(app_secret: str | None, body: bytes, header: str | None) -> bool:
    """``X-Hub-Signature-256: sha256=<hex>`` = HMAC-SHA256(app secret, raw body)."""
    if not app_secret or not header:
        return False
    scheme, _, digest = header.strip().partition("=")
    if scheme.lower() != "sha256" or not digest:
        return False
    return constant_time_equals(digest.lower(), hmac_sha256_hex(app_secret, body))


def signature_header(app_secret: str, body: bytes) -> str:
    return "sha256=" + hmac_sha256_hex(app_secret, body)


def hub_challenge(query: Mapping[str, str], verify_token: str | None) -> tuple[int, str] | None:
    """Meta's subscription check: echo ``hub.challenge`` when the verify token matches."""
    if "hub.mode" not in query and "hub.challenge" not in query:
        return None
    if (
        query.get("hub.mode") == "subscribe"
        and verify_token
        and constant_time_equals(query.get("hub.verify_token", ""), verify_token)
    ):
        return 200, query.get("hub.challenge", "")
    return 403, "verify token mismatch"


def _wa_address(wa_id: Any) -> str:
    if not isinstance(wa_id, str | int) or isinstance(wa_id, bool):
        raise ValueError(f"not a WhatsApp id: {wa_id!r}")
    digits = str(wa_id).strip().lstrip("+")
    if not digits.isascii() or not digits.isdigit() or not 6 <= len(digits) <= 15:
        raise ValueError(f"not a WhatsApp id: {wa_id!r}")
    return "+" + digits


def _id(value: Any) -> str:
    if not isinstance(value, str | int) or isinstance(value, bool) or not str(value).strip():
        raise ValueError(f"not a message id: {value!r}")
    return str(value)


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _words(value: Any) -> str:
    return value if isinstance(value, str) else ""


def inbound_text(message: Mapping[str, Any]) -> str:
    """The readable part of any inbound message type."""
    kind = message.get("type")
    if kind == "text":
        return _words(_dict(message.get("text")).get("body"))
    if kind == "button":
        return _words(_dict(message.get("button")).get("text"))
    if kind == "interactive":
        inter = _dict(message.get("interactive"))
        reply = _dict(inter.get("button_reply")) or _dict(inter.get("list_reply"))
        return _words(reply.get("title"))
    if kind == "reaction":
        return _words(_dict(message.get("reaction")).get("emoji"))
    media = message.get(kind) if isinstance(kind, str) else None
    if isinstance(media, Mapping):
        return _words(media.get("caption"))
    return ""


def status_event(item: Mapping[str, Any], table: ErrorTable = META_ERRORS) -> StatusUpdate | None:
    status = STATUS_MAP.get(str(item.get("status", "")).lower())
    if status is None:
        return None
    errors = item.get("errors")
    first = errors[0] if isinstance(errors, list) and errors else None
    first = first if isinstance(first, Mapping) else {}
    err = error_entry(first) if first else None
    failure: dict[str, Any] = {}
    code: str | None = None
    if status == MessageStatus.FAILED and err is not None and err.code is not None:
        # a failure without a code keeps the default: the recipient was not reached
        code = str(err.code)
        failure = status_fields(table.classify(err.code, err.text))
    recipient = item.get("recipient_id")
    return StatusUpdate(
        provider_message_id=_id(item.get("id")),
        status=status,
        at=unix_time(item.get("timestamp")),
        error_code=code,
        error_text=(err.text or None) if err else None,
        recipient=_wa_address(recipient) if recipient else None,
        raw=dict(item),
        **failure,
    )


def _context(msg: Mapping[str, Any]) -> tuple[str, ...]:
    """The message the client answered (``context.id``: a reply, or a template's quick-reply
    button), as our provider id (the ``wamid``)."""
    answered = _dict(msg.get("context")).get("id")
    return (answered,) if isinstance(answered, str) and answered else ()


def parse_webhook_body(body: Any, table: ErrorTable = META_ERRORS) -> list[WebhookEvent]:
    """Events of one Cloud API webhook (the envelope Meta and 360dialog both send).

    Raises ``ValueError``/``KeyError``/``TypeError`` on a body that is not this shape
    (the receiver answers 400).
    """
    if not isinstance(body, Mapping) or not isinstance(body.get("entry"), list):
        raise ValueError("not a WhatsApp webhook: no entry list")
    events: list[WebhookEvent] = []
    for entry in body["entry"]:
        changes = _dict(entry).get("changes")
        for change in changes if isinstance(changes, list) else []:
            change = _dict(change)
            if change.get("field", "messages") != "messages":
                continue  # template status updates etc.: the periodic sync picks those up
            value = _dict(change.get("value"))
            contacts = value.get("contacts")
            names = {
                str(c.get("wa_id")): _words(_dict(c.get("profile")).get("name")) or None
                for c in (contacts if isinstance(contacts, list) else [])
                if isinstance(c, Mapping)
            }
            messages = value.get("messages")
            for msg in messages if isinstance(messages, list) else []:
                msg = _dict(msg)
                if msg.get("group_id") is not None:
                    continue  # written in a group: not the client writing to us (R3)
                address = _wa_address(msg.get("from"))
                events.append(
                    InboundMessage(
                        address=address,
                        provider_message_id=_id(msg.get("id")),
                        at=unix_time(msg.get("timestamp")),
                        text=inbound_text(msg),
                        display_name=names.get(str(msg.get("from"))),
                        phone=address,
                        raw=dict(msg),
                        reply_to=_context(msg),
                    )
                )
            statuses = value.get("statuses")
            for item in statuses if isinstance(statuses, list) else []:
                event = status_event(_dict(item), table)
                if event is not None:
                    events.append(event)
            errors = value.get("errors")
            for err in errors if isinstance(errors, list) else []:
                parsed = error_entry(_dict(err))
                log.warning("WhatsApp reported an error: %s %s", parsed.code, parsed.text)
    return events
