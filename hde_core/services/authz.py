"""One permission check for every use case that changes something (SPEC §6, §10).

A use case calls :func:`authorize` itself, whatever face called it (console,
command line, a direct service call): the actor must be an *active* console
user whose role allows the permission. Pages call :func:`may` only to hide what
the service would refuse anyway.

Processes that act on their own (the worker finishing campaigns, expiring
leases) pass a :class:`SystemActor`. It is a ``str`` (the audit stores its
name) but a distinct type, so no login typed on a command line or in a sign-in
form can ever be one.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from hde_core.bootstrap import App
from hde_core.db.models import User
from hde_core.domain.roles import PERMISSIONS, Permission, Role, can
from hde_core.errors import PermissionDenied
from hde_core.i18n import t

__all__ = [
    "DEMO",
    "NotAllowed",
    "SYSTEM",
    "SystemActor",
    "WORKER",
    "authorize",
    "may",
    "needed_role",
]


class SystemActor(str):
    """A process of the product itself, never a person: allowed what a process does.

    ``SystemActor("worker")`` is written to the audit as ``worker``; a plain
    string ``"worker"`` is just a login that must exist like any other.
    """

    __slots__ = ()


#: The dispatcher / background worker.
WORKER = SystemActor("worker")
#: The installation itself (seeding a database, scripts run by whoever owns the machine).
SYSTEM = SystemActor("system")
#: The sandbox demo preparing itself.
DEMO = SystemActor("demo")


class NotAllowed(PermissionDenied):
    """The actor may not do this: the message names the role that may (exit code 2)."""

    key = "authz.not_allowed"

    def message(self, lang: str | None = None) -> str:
        params = dict(self.params)
        permission = params.get("permission")
        if permission:
            params["action"] = t(f"authz.action.{permission}", lang=lang)
            params["needed"] = t(f"authz.needed.{needed_role(Permission(permission))}", lang=lang)
        if params.get("role"):
            params["role"] = t(f"role.{params['role']}", lang=lang)
        return t(self.key, lang=lang, **params)


def needed_role(permission: Permission) -> Role:
    """The lowest role that holds ``permission`` (roles are ordered viewer < … < admin)."""
    for role in (Role.VIEWER, Role.AGENT, Role.TEAM_LEAD, Role.ADMIN):
        if permission in PERMISSIONS[role]:
            return role
    return Role.ADMIN


def _role_of(session: Session, login: str) -> Role | None:
    role = session.scalar(select(User.role).where(User.login == login, User.is_active.is_(True)))
    return Role(role) if role else None


def _check(
    session: Session, actor: str, permission: Permission, system_allowed: bool
) -> Role | None:
    if isinstance(actor, SystemActor):
        if system_allowed:
            return None
        raise NotAllowed("authz.system_not_allowed", actor=str(actor), permission=permission.value)
    role = _role_of(session, actor) if actor else None
    if role is None:
        raise NotAllowed("authz.unknown_actor", actor=actor, permission=permission.value)
    if not can(role, permission):
        raise NotAllowed(actor=actor, role=role.value, permission=permission.value)
    return role


def authorize(
    db: App | Session, actor: str, permission: Permission, *, system_allowed: bool = True
) -> Role | None:
    """Raise :class:`NotAllowed` unless ``actor`` may do what ``permission`` covers.

    ``db`` is the app, or the session of the use case's own transaction (then the
    check sees the same rows the change will: a user disabled a moment ago is
    refused). Returns the actor's role (``None`` for a :class:`SystemActor`).
    ``system_allowed=False`` for acts only a person may do (acknowledging a risk).
    """
    if isinstance(db, Session):
        return _check(db, actor, permission, system_allowed)
    with db.db.reader() as session:
        return _check(session, actor, permission, system_allowed)


def may(db: App | Session, actor: str, permission: Permission) -> bool:
    """Whether :func:`authorize` would let ``actor`` through (pages hide what it would not)."""
    try:
        authorize(db, actor, permission)
    except NotAllowed:
        return False
    return True
