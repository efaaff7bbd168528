"""Console users: creation, sign-in with a pause after repeated failures."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hde_core.bootstrap import App
from hde_core.db.models import User
from hde_core.domain.roles import Permission, Role
from hde_core.errors import NotFound, Refused, UsageError
from hde_core.security.passwords import hash_password, needs_rehash, verify_password
from hde_core.services import audit
from hde_core.services.authz import SystemActor, authorize
from hde_core.services.sessions import Ended, end_all_for_user
from hde_core.services.signin import PAIR_FAILURES, throttle_for

MIN_PASSWORD = 8
MAX_FAILURES = PAIR_FAILURES  # wrong passwords in a row before a client is paused for a login
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
        if _active_admin(session) is None and not isinstance(actor, SystemActor):
            # A fresh install: anyone at the machine creates the first admin, once.
            if role_value is not Role.ADMIN:
                raise UsageError("error.user_first_admin", login=login)
            _lock_first_admin(session)
            if _active_admin(session) is not None:  # another process created one meanwhile
                raise UsageError("error.user_first_admin_taken", login=login)
        else:
            authorize(session, actor, Permission.MANAGE_USERS)
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


def authenticate(app: App, login: str, password: str, client: str = "") -> SignedIn | None:
    """The user on success; ``None`` on a wrong login/password or while paused.

    ``client`` names where the attempt comes from (the console passes the browser's
    address). Wrong passwords pause that client for that login, and many failures pause
    the client (:mod:`hde_core.services.signin`) — the same whether the login exists or
    not, and never the login for everyone (nobody can keep an admin out).
    """
    now = app.clock.now()
    throttle = throttle_for(app.settings.resolved_database_url)
    with app.db.transaction() as session:
        if throttle.paused_until(login, client, now) is not None:
            audit.record(session, audit.Event.USER_SIGN_IN_FAILED, login, reason="paused")
            return None
        user = session.scalar(select(User).where(User.login == login))
        if user is None or not user.is_active:
            verify_password(_dummy_hash(), password)  # same time as a real check
            throttle.failed(login, client, now)
            audit.record(session, audit.Event.USER_SIGN_IN_FAILED, login, reason="unknown")
            return None
        if not verify_password(user.password_hash, password):
            throttle.failed(login, client, now)
            audit.record(session, audit.Event.USER_SIGN_IN_FAILED, login, reason="password")
            return None
        if needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)
        throttle.succeeded(login, client)
        user.failed_logins = 0
        user.locked_until = None
        user.last_login_at = now
        audit.record(session, audit.Event.USER_SIGNED_IN, login)
        return SignedIn(user.login, Role(user.role), user.display_name)


def has_active_admin(app: App) -> bool:
    """Whether anyone can manage users yet (a fresh install has nobody to sign in as)."""
    with app.db.reader() as session:
        return _active_admin(session) is not None


#: The PostgreSQL advisory lock two first-admin creations queue on ("HDEADM" in ASCII).
_FIRST_ADMIN_LOCK = 0x484445_41444D


def _lock_first_admin(session: Session) -> None:
    """Serialise first-admin creations until this transaction ends, so two at the same
    moment cannot both see "no admin yet". SQLite needs nothing: a write transaction
    starts with ``BEGIN IMMEDIATE``, one writer at a time. On PostgreSQL (READ COMMITTED)
    the statement after the lock sees what the other transaction committed."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(_FIRST_ADMIN_LOCK)))


def _active_admin(session: Session) -> int | None:
    return session.scalar(
        select(User.id).where(User.role == Role.ADMIN.value, User.is_active.is_(True)).limit(1)
    )


def active_role(app: App, login: str) -> Role | None:
    """The role of an active user (None: unknown or deactivated), for every console page."""
    with app.db.reader() as session:
        role = session.scalar(
            select(User.role).where(User.login == login, User.is_active.is_(True))
        )
    return Role(role) if role else None


def paused_until(app: App, login: str, client: str = "") -> datetime | None:
    """Until when ``client`` may not try ``login`` — said alike for logins that exist
    and logins that do not."""
    return throttle_for(app.settings.resolved_database_url).paused_until(
        login, client, app.clock.now()
    )


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
    authorize(app, actor, Permission.MANAGE_USERS)
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
        authorize(session, actor, Permission.MANAGE_USERS)
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
        authorize(session, actor, Permission.MANAGE_USERS)
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
        if not active:
            end_all_for_user(session, user.id, Ended.DEACTIVATED, actor, now=app.clock.now())
    return True


def change_password(
    app: App, login: str, current: str, new: str, keep_token: str | None = None
) -> int:
    """A user changes their own password (the current one proves it is them). Every other
    console session of that user ends (``keep_token``: the one making the change stays).
    Returns how many sessions ended."""
    if len(new) < MIN_PASSWORD:
        raise UsageError("error.user_password_short", min=MIN_PASSWORD)
    with app.db.transaction() as session:
        user = session.scalar(select(User).where(User.login == login, User.is_active.is_(True)))
        if user is None or not verify_password(user.password_hash, current):
            raise Refused([], "session.password_wrong_current")
        user.password_hash = hash_password(new)
        audit.record(session, audit.Event.PASSWORD_CHANGED, login, login=login)
        return end_all_for_user(
            session,
            user.id,
            Ended.PASSWORD_CHANGED,
            login,
            now=app.clock.now(),
            keep_token=keep_token,
        )


def reset_password(app: App, login: str, password: str, actor: str) -> None:
    """An admin sets a new password for a user who lost theirs (the console's users page).
    The user's open sessions end; the audit names who reset whose password (never the
    password)."""
    if len(password) < MIN_PASSWORD:
        raise UsageError("error.user_password_short", min=MIN_PASSWORD)
    with app.db.transaction() as session:
        authorize(session, actor, Permission.MANAGE_USERS)
        user = _user(session, login)
        user.password_hash = hash_password(password)
        user.failed_logins, user.locked_until = 0, None
        audit.record(session, audit.Event.USER_PASSWORD_RESET, actor, login=login)
        end_all_for_user(session, user.id, Ended.PASSWORD_CHANGED, actor, now=app.clock.now())
