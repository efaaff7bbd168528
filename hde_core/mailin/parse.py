"""One email (bytes) → the events it means: a client's reply, an auto-reply, or a bounce.

Parsed with the stdlib ``email`` package and ``policy.default``.

- A **bounce** (a DSN: ``multipart/report; report-type=delivery-status`` or any
  ``message/delivery-status`` part) whose action is ``failed`` becomes a failed
  :class:`~hde_core.domain.events.StatusUpdate` for our message, found by the
  original Message-ID the DSN carries (its ``message/rfc822`` or
  ``text/rfc822-headers`` part, else the bounce's own References) with the
  server's reason (``Diagnostic-Code``). A "delayed" DSN changes nothing.
- Anything else from a readable sender is an
  :class:`~hde_core.domain.events.InboundMessage`: ``reply_to`` holds the
  In-Reply-To then References ids exactly as sent (angle brackets included: that is
  how ``messages.provider_message_id`` keeps the Message-ID of our emails),
  ``ticket_hint`` the N of a ``mailbox+tN@…`` recipient, ``auto_reply`` marks
  out-of-office answers (RFC 3834 ``Auto-Submitted``, ``X-Autoreply``,
  ``Precedence: auto_reply/bulk/junk``, their usual subjects).
- A message without a readable sender address, or with no usable content at all,
  is :class:`Malformed`: the caller refuses it with one clear log line.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from email.utils import getaddresses, parseaddr
from typing import Any

from hde_core.domain import events as ev
from hde_core.domain.addresses import normalise_email
from hde_core.domain.outcomes import ErrorClass
from hde_core.domain.statuses import MessageStatus
from hde_core.mailin.quotes import html_to_text, strip_reply

#: Longest original text kept with the inbound row (the stripped text is cut at 4,000).
ORIGINAL_MAX = 100_000
_MSGID = re.compile(r"<[^<>\s]{1,198}>")
_TICKET_TAG = re.compile(r"^[^+@]+\+t(\d{1,18})@", re.IGNORECASE)
_AUTO_SUBJECT = re.compile(
    r"^\s*(out of (the )?office|automatic reply|auto(matic)?[ -]?reply|autoreply|"
    r"auto:|abwesenheitsnotiz|автоответ|автоматический ответ|нет на месте|в отпуске)",
    re.IGNORECASE,
)
_AUTO_PRECEDENCE = frozenset({"auto_reply", "bulk", "junk", "list"})
_DAEMON = re.compile(r"^(mailer-daemon|postmaster)@", re.IGNORECASE)


class Malformed(ValueError):
    """The email cannot be taken: why, in plain words (for the log and the SMTP answer)."""


@dataclass(frozen=True)
class ParsedMail:
    """What one email means, plus what a log line needs."""

    events: list[ev.WebhookEvent]
    message_id: str
    sender: str | None
    recipients: tuple[str, ...]
    kind: str  # reply | auto_reply | bounce | bounce_delayed


def message_ids(value: object) -> list[str]:
    """The ``<id>`` tokens of an In-Reply-To / References / Message-ID header, in order."""
    return _MSGID.findall(str(value or ""))


def ticket_hint(addresses: Iterable[str]) -> int | None:
    """N from the first ``mailbox+tN@domain`` among ``addresses`` (our per-ticket Reply-To)."""
    for address in addresses:
        match = _TICKET_TAG.match(address.strip())
        if match:
            return int(match.group(1))
    return None


def is_auto_reply(msg: Message) -> bool:
    auto = str(msg.get("Auto-Submitted", "") or "").strip().lower()
    if auto and auto != "no":
        return True
    if msg.get("X-Autoreply") or msg.get("X-Autorespond"):
        return True
    if str(msg.get("Precedence", "") or "").strip().lower() in _AUTO_PRECEDENCE:
        return True
    if str(msg.get("X-Auto-Response-Suppress", "") or "").strip().lower() in {"all", "oof"}:
        return "auto" in str(msg.get("Subject", "")).lower() or bool(
            _AUTO_SUBJECT.match(str(msg.get("Subject", "")))
        )
    return bool(_AUTO_SUBJECT.match(str(msg.get("Subject", "") or "")))


def _content(part: Message) -> str:
    """A text part's content, whatever its declared charset says."""
    try:
        value = part.get_content()  # type: ignore[attr-defined]
        if isinstance(value, str):
            return value
    except (LookupError, UnicodeError, AssertionError, KeyError, ValueError):
        pass
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        return payload.decode("utf-8", errors="replace")
    return ""


def body_text(msg: EmailMessage) -> str:
    """The text of the message: its text/plain body, else its HTML body as text."""
    part = msg.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    text = _content(part)
    if part.get_content_subtype() == "html":
        text = html_to_text(text)
    return text.replace("\x00", "").strip()


def attachments(msg: EmailMessage) -> list[dict[str, Any]]:
    """Every attachment by name, type and size in bytes (listed, never dropped silently)."""
    found: list[dict[str, Any]] = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        name = part.get_filename()
        if not name and part.get_content_disposition() != "attachment":
            continue
        payload = part.get_payload(decode=True)
        size = len(payload) if isinstance(payload, bytes) else 0
        found.append({"name": name or "attachment", "type": part.get_content_type(), "size": size})
    return found


def _dsn(msg: EmailMessage) -> Message | None:
    for part in msg.walk():
        if part.get_content_type() == "message/delivery-status":
            return part
    return None


def _dsn_fields(status_part: Message) -> list[Message]:
    payload = status_part.get_payload()
    if isinstance(payload, list):
        return [p for p in payload if isinstance(p, Message)]
    if isinstance(payload, str):  # some servers send it as text: parse the blocks ourselves
        return [
            message_from_bytes(block.strip().encode() + b"\n\n", policy=policy.default)
            for block in re.split(r"\n\s*\n", payload.replace("\r\n", "\n"))
            if block.strip()
        ]
    return []


def _original_ids(msg: EmailMessage) -> list[str]:
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype == "message/rfc822":
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                ids = message_ids(inner[0].get("Message-ID"))
                if ids:
                    return ids
        elif ctype == "text/rfc822-headers":
            headers = message_from_bytes(
                _content(part).encode("utf-8", "replace"), policy=policy.default
            )
            ids = message_ids(headers.get("Message-ID"))
            if ids:
                return ids
    return message_ids(msg.get("In-Reply-To")) or message_ids(msg.get("References"))[-1:]


def _bounce(msg: EmailMessage, status_part: Message, at: datetime) -> list[ev.WebhookEvent]:
    recipients = [f for f in _dsn_fields(status_part) if f.get("Action") or f.get("Status")]
    failed = [f for f in recipients if str(f.get("Action", "")).strip().lower() == "failed"]
    if not failed:
        return []
    first = failed[0]
    status = str(first.get("Status", "") or "").strip() or None
    diagnostic = " ".join(str(first.get("Diagnostic-Code", "") or "").split())
    # "smtp; 550 5.1.1 <x@y>: user unknown" → the server's own words
    reason = diagnostic.split(";", 1)[1].strip() if ";" in diagnostic else diagnostic
    final = str(first.get("Final-Recipient", "") or first.get("Original-Recipient", "") or "")
    recipient = final.split(";", 1)[-1].strip() or None
    return [
        ev.StatusUpdate(
            provider_message_id=original,
            status=MessageStatus.FAILED,
            at=at,
            error_code=status,
            error_text=reason or f"delivery failed ({status or 'no reason given'})",
            error_class=ErrorClass.NOT_REACHABLE,
            recipient=recipient,
            raw={
                "source": "email",
                "kind": "bounce",
                "bounce_message_id": str(msg.get("Message-ID", "")),
            },
        )
        for original in _original_ids(msg)[:1]
    ]


_QUOTED_ID = re.compile(r"^\s*Message-ID:\s*(<[^<>\s]{1,198}>)", re.IGNORECASE | re.MULTILINE)
_SMTP_REASON = re.compile(r"\b5\d\d[ -]\d\.\d{1,3}\.\d{1,3}\b[^\n]*|\b5\d\d [^\n]{3,}")


def _text_bounce(text: str, at: datetime, bounce_id: str) -> list[ev.WebhookEvent]:
    """A bounce in plain words (qmail's "failure notice", old Exim): our message's id from
    the copy it quotes, the reason from the first 5xx answer it cites. Without both it is
    left an auto-reply."""
    ids = _QUOTED_ID.findall(text)
    reason = _SMTP_REASON.search(text)
    if not ids or reason is None:
        return []
    detail = " ".join(reason.group(0).split()).strip(" :;")
    return [
        ev.StatusUpdate(
            provider_message_id=ids[0],
            status=MessageStatus.FAILED,
            at=at,
            error_code=detail[:3],
            error_text=detail,
            error_class=ErrorClass.NOT_REACHABLE,
            raw={"source": "email", "kind": "bounce", "bounce_message_id": bounce_id},
        )
    ]


def _fallback_id(raw: bytes) -> str:
    """A stable id for a message that has no Message-ID (the same bytes, the same id)."""
    return f"<{hashlib.sha256(raw).hexdigest()[:40]}@no-message-id.hde>"


def parse_email(raw: bytes, received_at: datetime, envelope_to: Iterable[str] = ()) -> ParsedMail:
    """What ``raw`` means; raises :class:`Malformed` when it cannot be taken."""
    if not raw or not raw.strip():
        raise Malformed("empty message")
    msg = message_from_bytes(raw, policy=policy.default)
    if not isinstance(msg, EmailMessage) or not msg.keys():
        raise Malformed("no headers")
    ids = message_ids(msg.get("Message-ID"))
    message_id = ids[0] if ids else _fallback_id(raw)
    try:
        recipients = tuple(a.lower() for a in envelope_to) + tuple(
            a.lower()
            for _, a in getaddresses(
                [str(msg.get(h, "")) for h in ("Delivered-To", "X-Original-To", "To", "Cc")]
            )
            if a
        )
        from_header = str(msg.get("From", "") or "")
    except (ValueError, TypeError, IndexError) as exc:
        raise Malformed(f"unreadable address headers ({type(exc).__name__})") from exc
    status_part = _dsn(msg)
    if status_part is not None:
        events = _bounce(msg, status_part, received_at)
        return ParsedMail(
            events, message_id, None, recipients, "bounce" if events else "bounce_delayed"
        )
    name, address = parseaddr(from_header)
    sender = normalise_email(address) if address else None
    if sender is None or not sender.ok or sender.value is None:
        raise Malformed(f"no readable sender address in From: {from_header[:80]!r}")
    original = body_text(msg)
    files = attachments(msg)
    subject = " ".join(str(msg.get("Subject", "") or "").split()) or None
    if not original and not files and not subject:
        raise Malformed("no text, subject or attachment")
    if _DAEMON.match(sender.value):
        events = _text_bounce(original, received_at, message_id)
        if events:
            return ParsedMail(events, message_id, None, recipients, "bounce")
    auto = is_auto_reply(msg) or bool(_DAEMON.match(sender.value))
    reply_to = tuple(
        dict.fromkeys(
            message_ids(msg.get("In-Reply-To")) + message_ids(msg.get("References"))[::-1]
        )
    )
    text = strip_reply(original) if original else ""
    event = ev.InboundMessage(
        address=sender.value,
        provider_message_id=message_id,
        at=received_at,
        text=text,
        display_name=name.strip() or None,
        raw={
            "source": "email",
            "message_id": message_id,
            "subject": subject,
            "auto_reply": auto,
            "attachments": files,
            "original": original[:ORIGINAL_MAX],
            "recipients": list(recipients),
            "reply_to": list(reply_to),
            "ticket_hint": ticket_hint(recipients),
        },
        reply_to=reply_to,
        ticket_hint=ticket_hint(recipients),
        auto_reply=auto,
        subject=subject,
        original=original[:ORIGINAL_MAX],
        attachments=tuple(f["name"] for f in files),
    )
    return ParsedMail(
        [event], message_id, sender.value, recipients, "auto_reply" if auto else "reply"
    )
