"""Console users: creation, sign-in with a pause after repeated failures."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import select

from hde_core.bootstrap import App
from hde_core.db.models import User
from hde_core.domain.roles import Role
from hde_core.errors import UsageError
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


def paused_until(app: App, login: str) -> datetime | None:
    with app.db.reader() as session:
        user = session.scalar(select(User).where(User.login == login))
        if user and user.locked_until and user.locked_until > app.clock.now():
            return user.locked_until
    return None


@cache
def _dummy_hash() -> str:
    return hash_password("not-a-real-password-0")
