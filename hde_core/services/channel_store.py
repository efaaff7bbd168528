"""Writing a channel's row: the one upsert behind provisioning and the console's form.

Plain columns are set when they differ; credentials and the webhook secret are encrypted
with the current ``HDE_SECRET_KEY`` when they differ from what is stored — or when what
is stored was saved under another key and cannot be read (re-entering credentials after
a key change needs no old value). The changes are named, secrets by key only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hde_core.db.models import Channel
from hde_core.security.crypto import SecretBox


def store_channel(
    secrets: SecretBox,
    channel: Channel,
    values: Mapping[str, Any],
    credentials: Mapping[str, Any],
    webhook_secret: str | None,
    *,
    keep_webhook_secret: bool = False,
) -> list[str]:
    """Bring ``channel`` to these values; returns what changed (``[]``: nothing).

    ``keep_webhook_secret`` leaves the stored webhook secret as it is (a form that left
    the field empty when the stored one cannot be read)."""
    changes = [attr for attr, value in values.items() if getattr(channel, attr) != value]
    for attr in changes:
        setattr(channel, attr, values[attr])
    readable = secrets.readable(channel.credentials_enc)
    stored = secrets.decrypt_json(channel.credentials_enc) if readable else {}
    changed_keys = sorted(
        k for k in set(stored) | set(credentials) if stored.get(k) != credentials.get(k)
    )
    if changed_keys or not readable:
        channel.credentials_enc = secrets.encrypt_json(dict(credentials)) if credentials else None
        changes += [f"credentials.{k}" for k in changed_keys] or ["credentials"]
    if not keep_webhook_secret:
        token = channel.webhook_secret_enc
        secret_readable = secrets.readable(token)
        old = secrets.decrypt(token) if token and secret_readable else None
        if old != webhook_secret or not secret_readable:
            channel.webhook_secret_enc = secrets.encrypt(webhook_secret) if webhook_secret else None
            changes.append("webhook_secret")
    return changes
