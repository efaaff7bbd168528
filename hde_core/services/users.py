"""Console users: creation, sign-in with a pause after repeated failures."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hde_core.bootstrap import App
from hde_core.db.models import User
from hde_core.domain.roles import Permission, Role, can
from hde_core.errors import NotFound, PermissionDenied, Refused, UsageError
from hde_core.security.passwords import hash_password, needs_rehash, verify_password
from hde_core.services import audit

MIN_PASSWORD = 8
MAX_FAILURES = 5
LOCK_FOR = timedelta(minutes=5)
_LOGIN = re.compile(r"^[A-Za-z0-9_.@-]{2,64}$")


@dataclass(frozen=True)
class SignedIn:
    login: str
    role: Role
    display_name: str


def add_user(
    app: App, login: str, role: str, password: str, actor: str, display_name: str = ""
) -> User:
    if not _LOGIN.match(login):
        raise UsageError("error.user_login_invalid", login=login)
    try:
        role_value = Role(role)
    except ValueError as exc:
        raise UsageError(
            "error.user_role_invalid", role=role, roles=", ".join(r.value for r in Role)
        ) from exc
    if len(password) < MIN_PASSWORD:
        raise UsageError("error.user_password_short", min=MIN_PASSWORD)
    with app.db.transaction() as session:
        if session.scalar(select(User.id).where(User.login == login)) is not None:
            raise UsageError("error.user_exists", login=login)
        user = User(
            login=login,
            role=role_value.value,
            password_hash=hash_password(password),
            display_name=display_name or login,
        )
        session.add(user)
        session.flush()
        audit.record(session, audit.Event.USER_CREATED, actor, login=login, role=role_value.value)
    return user


def authenticate(app: App, login: str, password: str) -> SignedIn | None:
    """The user on success; ``None`` on a wrong login/password or while paused.

    After :data:`MAX_FAILURES` wrong passwords the account is paused for
    :data:`LOCK_FOR`; the pause is the same whether the login exists or not.
    """
    now = app.clock.now()
    with app.db.transaction() as session:
        user = session.scalar(select(User).where(User.login == login))
        if user is None or not user.is_active:
            verify_password(_dummy_hash(), password)  # same time as a real check
            audit.record(session, audit.Event.USER_SIGN_IN_FAILED, login, reason="unknown")
            return None
        if user.locked_until and user.locked_until > now:
            audit.record(session, audit.Event.USER_SIGN_IN_FAILED, login, reason="paused")
            return None
        if not verify_password(user.password_hash, password):
            user.failed_logins += 1
            if user.failed_logins >= MAX_FAILURES:
                user.locked_until = now + LOCK_FOR
                user.failed_logins = 0
            audit.record(session, audit.Event.USER_SIGN_IN_FAILED, login, reason="password")
            return None
        if needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)
        user.failed_logins = 0
        user.locked_until = None
        user.last_login_at = now
        audit.record(session, audit.Event.USER_SIGNED_IN, login)
        return SignedIn(user.login, Role(user.role), user.display_name)


def has_active_admin(app: App) -> bool:
    """Whether anyone can manage users yet (a fresh install has nobody to sign in as)."""
    with app.db.reader() as session:
        found = session.scalar(
            select(User.id).where(User.role == Role.ADMIN.value, User.is_active.is_(True))
        )
    return found is not None


def active_role(app: App, login: str) -> Role | None:
    """The role of an active user (None: unknown or deactivated), for every console page."""
    with app.db.reader() as session:
        role = session.scalar(
            select(User.role).where(User.login == login, User.is_active.is_(True))
        )
    return Role(role) if role else None


def paused_until(app: App, login: str) -> datetime | None:
    with app.db.reader() as session:
        user = session.scalar(select(User).where(User.login == login))
        if user and user.locked_until and user.locked_until > app.clock.now():
            return user.locked_until
    return None


@cache
def _dummy_hash() -> str:
    return hash_password("not-a-real-password-0")


# -- administration (console "Users" page; admins only) -----------------------------------


@dataclass(frozen=True)
class UserRow:
    login: str
    display_name: str
    role: Role
    is_active: bool
    last_login_at: datetime | None
    created_at: datetime


def list_users(app: App) -> list[UserRow]:
    with app.db.reader() as session:
        return [
            UserRow(
                u.login, u.display_name, Role(u.role), u.is_active, u.last_login_at, u.created_at
            )
            for u in session.scalars(select(User).order_by(User.login))
        ]


def _require_admin(session: Session, actor: str) -> None:
    role = session.scalar(select(User.role).where(User.login == actor, User.is_active.is_(True)))
    if role is None or not can(role, Permission.MANAGE_USERS):
        raise PermissionDenied("users_page.error.not_allowed", actor=actor)


def _user(session: Session, login: str) -> User:
    user = session.scalar(select(User).where(User.login == login))
    if user is None:
        raise NotFound("users_page.error.not_found", login=login)
    return user


def _other_active_admins(session: Session, login: str) -> int:
    return (
        session.scalar(
            select(func.count()).where(
                User.role == Role.ADMIN.value, User.is_active.is_(True), User.login != login
            )
        )
        or 0
    )


def create_user(
    app: App, login: str, role: str, password: str, actor: str, display_name: str = ""
) -> User:
    """:func:`add_user` on behalf of a console admin."""
    with app.db.reader() as session:
        _require_admin(session, actor)
    return add_user(app, login.strip(), role, password, actor, display_name.strip())


def set_role(app: App, login: str, role: str, actor: str) -> bool:
    """Change a user's role; the last active admin cannot stop being one. Returns whether
    anything changed."""
    try:
        new = Role(role)
    except ValueError as exc:
        raise UsageError(
            "error.user_role_invalid", role=role, roles=", ".join(r.value for r in Role)
        ) from exc
    with app.db.transaction() as session:
        _require_admin(session, actor)
        user = _user(session, login)
        if user.role == new.value:
            return False
        if user.role == Role.ADMIN.value and not _other_active_admins(session, login):
            raise Refused([], "users_page.error.last_admin", login=login)
        before, user.role = user.role, new.value
        audit.record(
            session,
            audit.Event.SETTINGS_CHANGED,
            actor,
            setting="user",
            login=login,
            role_before=before,
            role=new.value,
        )
    return True


def set_active(app: App, login: str, active: bool, actor: str) -> bool:
    """Deactivate (signing in is refused; the audit keeps the name) or reactivate a user.
    Nobody deactivates themselves, and the last active admin stays."""
    with app.db.transaction() as session:
        _require_admin(session, actor)
        user = _user(session, login)
        if user.is_active == active:
            return False
        if not active and login == actor:
            raise Refused([], "users_page.error.not_yourself")
        if (
            not active
            and user.role == Role.ADMIN.value
            and not _other_active_admins(session, login)
        ):
            raise Refused([], "users_page.error.last_admin", login=login)
        user.is_active = active
        if active:
            user.failed_logins, user.locked_until = 0, None
        audit.record(
            session, audit.Event.SETTINGS_CHANGED, actor, setting="user", login=login, active=active
        )
    return True
