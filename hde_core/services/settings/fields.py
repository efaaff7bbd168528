"""Custom fields of tickets (R7): key, label, required."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select

from hde_core.bootstrap import App
from hde_core.db.models import (
    CustomField,
)
from hde_core.domain.roles import Permission
from hde_core.services.authz import authorize
from hde_core.services.provision import (
    CustomFieldSpec,
)
from hde_core.services.settings.problems import (
    SettingsInvalid,
    _audit_setting,
    _problems,
)

# -- custom fields ------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldView:
    key: str
    label: str
    required: bool


def list_custom_fields(app: App) -> list[FieldView]:
    with app.db.reader() as session:
        return [
            FieldView(f.key, f.label, f.required)
            for f in session.scalars(select(CustomField).order_by(CustomField.key))
        ]


def save_custom_field(app: App, form: Mapping[str, Any], actor: str) -> bool:
    """Create or update a custom field (R4: a required one must be filled on every ticket).
    Returns whether it was created."""
    now = app.clock.now()
    try:
        spec = CustomFieldSpec.model_validate(
            {
                "key": str(form.get("key") or "").strip(),
                "label": str(form.get("label") or ""),
                "required": bool(form.get("required")),
            }
        )
    except ValidationError as exc:
        raise SettingsInvalid(_problems(exc, "field")) from exc
    with app.db.transaction() as session:
        authorize(session, actor, Permission.CHANNEL_SETTINGS)
        row = session.scalar(select(CustomField).where(CustomField.key == spec.key))
        created = row is None
        if row is None:
            row = CustomField(key=spec.key, label=spec.label, required=spec.required)
            session.add(row)
        elif (row.label, row.required) == (spec.label, spec.required):
            return False
        row.label, row.required, row.updated_at = spec.label, spec.required, now
        _audit_setting(
            session,
            actor,
            now,
            setting="custom_field",
            key=spec.key,
            label=spec.label,
            required=spec.required,
            created=True if created else None,
        )
    return created


def delete_custom_field(app: App, key: str, actor: str) -> bool:
    """Remove a custom field from the ticket form (tickets keep the values they have)."""
    with app.db.transaction() as session:
        authorize(session, actor, Permission.CHANNEL_SETTINGS)
        row = session.scalar(select(CustomField).where(CustomField.key == key))
        if row is None:
            return False
        session.delete(row)
        _audit_setting(
            session, actor, app.clock.now(), setting="custom_field", key=key, deleted=True
        )
    return True
