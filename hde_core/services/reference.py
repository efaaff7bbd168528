"""Reference data the forms need: departments with their mailboxes, custom fields, agents."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from hde_core.bootstrap import App
from hde_core.db.models import CustomField, Department, User
from hde_core.domain.roles import Role
from hde_core.domain.tickets import Priority


@dataclass(frozen=True)
class DepartmentInfo:
    id: int
    name: str
    mailbox: str


@dataclass(frozen=True)
class FieldInfo:
    key: str
    label: str
    required: bool


@dataclass(frozen=True)
class TicketFormOptions:
    departments: list[DepartmentInfo]
    fields: list[FieldInfo]
    assignees: list[str]  # logins of active users who can own tickets
    priorities: list[str]


def ticket_form_options(app: App) -> TicketFormOptions:
    with app.db.reader() as session:
        departments = [
            DepartmentInfo(d.id, d.name, d.mailbox)
            for d in session.scalars(select(Department).order_by(Department.name))
        ]
        fields = [
            FieldInfo(f.key, f.label, f.required)
            for f in session.scalars(
                select(CustomField).order_by(CustomField.required.desc(), CustomField.key)
            )
        ]
        assignees = list(
            session.scalars(
                select(User.login)
                .where(User.is_active.is_(True), User.role != Role.VIEWER.value)
                .order_by(User.login)
            )
        )
    return TicketFormOptions(departments, fields, assignees, [p.value for p in Priority])
