"""Stored secrets and HDE_SECRET_KEY: can this key read them, and moving them to a new key.

Channel credentials, webhook secrets and departments' SMTP URLs are encrypted with
``HDE_SECRET_KEY``. A process started with another key could read none of them, so
the receiver and the worker check at start (:func:`require_readable`) and stop with
one line instead of answering 500 to everything. ``hde secrets rotate OLD NEW``
(:func:`rotate`) re-encrypts everything in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hde_core.bootstrap import App
from hde_core.db.models import Channel, Department
from hde_core.domain.roles import Permission
from hde_core.errors import ConfigError
from hde_core.security.crypto import SecretBox
from hde_core.services import audit
from hde_core.services.authz import authorize

#: (model, encrypted column, what to call a row in messages)
_COLUMNS: tuple[tuple[Any, str, str], ...] = (
    (Channel, "credentials_enc", "channel {name}: credentials"),
    (Channel, "webhook_secret_enc", "channel {name}: webhook secret"),
    (Department, "smtp_url_enc", "department {name}: SMTP URL"),
    (Department, "imap_url_enc", "department {name}: IMAP URL"),
)


def _readable(box: SecretBox, token: str) -> bool:
    try:
        box.decrypt(token)
    except ConfigError:
        return False
    return True


def _stored(session: Session) -> list[tuple[Any, str, str, str]]:
    """Every stored secret: (row, column, label, token)."""
    out = []
    for model, column, label in _COLUMNS:
        for row in session.scalars(select(model).where(getattr(model, column).is_not(None))):
            token = getattr(row, column)
            if token:
                out.append((row, column, label.format(name=row.name), token))
    return out


def unreadable(app: App) -> list[str]:
    """What the current key cannot decrypt (empty: every stored secret is readable)."""
    with app.db.reader() as session:
        return [
            label for _, _, label, token in _stored(session) if not _readable(app.secrets, token)
        ]


def require_readable(app: App) -> None:
    """Refuse to start a process whose HDE_SECRET_KEY cannot read the stored secrets."""
    wrong = unreadable(app)
    if wrong:
        raise ConfigError("error.secret_key_wrong_at_start", count=len(wrong), first=wrong[0])


@dataclass
class RotateReport:
    rotated: int = 0  # re-encrypted from the old key to the new one
    already: int = 0  # already readable with the new key (a rotation run twice)
    #: readable with neither key: to be entered again (nothing else is refused for them)
    lost: list[str] = field(default_factory=list)


def rotate(app: App, old_key: str, new_key: str, actor: str) -> RotateReport:
    """Re-encrypt every stored secret from ``old_key`` to ``new_key`` (admins only), in one
    transaction. Safe to run again; what neither key reads is listed, never guessed."""
    old, new = SecretBox(old_key), SecretBox(new_key)
    report = RotateReport()
    with app.db.transaction() as session:
        authorize(session, actor, Permission.MANAGE_CHANNELS)
        for row, column, label, token in _stored(session):
            if _readable(new, token):
                report.already += 1
                continue
            try:
                plain = old.decrypt(token)
            except ConfigError:
                report.lost.append(label)
                continue
            setattr(row, column, new.encrypt(plain))
            report.rotated += 1
        audit.record(
            session,
            audit.Event.SETTINGS_CHANGED,
            actor,
            setting="secret_key",
            rotated=report.rotated,
            already=report.already,
            unreadable=len(report.lost),
        )
    return report
