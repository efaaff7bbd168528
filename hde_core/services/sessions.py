"""Console sessions kept on the server (issue 16.1), so a refresh or a new tab stays signed in.

The browser holds an opaque token in an HttpOnly, SameSite cookie; the database keeps only
its SHA-256 (a stolen backup or log line cannot be replayed). A session ends when the user
signs out, when the password changes (every session of that user), when an admin
deactivates the user, after ``HDE_SESSION_IDLE_MINUTES`` without activity, and at the
latest ``HDE_SESSION_MAX_HOURS`` after signing in.

Streamlit cannot set a cookie itself, so signing in is two steps: :func:`start` (called by
the console after the password is checked) returns the session's token for the running
page and a one-time code; the browser then opens the console's ``/auth/session`` route with
that code, and :func:`hand_off` swaps it — once, within :data:`HANDOFF_TTL` — for a fresh
token that only the cookie ever holds.

``last_seen_at`` slides with activity but is written at most once per :data:`TOUCH_EVERY`,
so a busy page costs one read per run, not one write.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from hde_core.bootstrap import App
from hde_core.db.models import ConsoleSession, User
from hde_core.domain.roles import Role
from hde_core.services import audit

#: The cookie's name (the console's routes set and clear it).
COOKIE = "hde_session"
#: How long the one-time code that hands a new session to the browser stays valid.
HANDOFF_TTL = timedelta(seconds=60)
#: ``last_seen_at`` is written at most this often.
TOUCH_EVERY = timedelta(minutes=1)
#: Sessions over for this long are deleted when their user next signs in (the audit keeps
#: the sign-ins and sign-outs), so the table holds recent sessions only.
KEEP_ENDED = timedelta(days=30)


class Ended(StrEnum):
    """Why a session is over (stored in ``ended_reason``; the console words each)."""

    SIGNED_OUT = "signed_out"
    PASSWORD_CHANGED = "password_changed"
    DEACTIVATED = "deactivated"
    EXPIRED = "expired"
    UNKNOWN = "unknown"  # no such token (never issued, or its hand-off replaced it)


@dataclass(frozen=True)
class Started:
    token: str  # for the page that signed in (it has no cookie yet)
    handoff: str  # one-time code for ``/auth/session``


@dataclass(frozen=True)
class SessionUser:
    session_id: int
    login: str
    role: Role
    display_name: str


@dataclass(frozen=True)
class Resumed:
    """The signed-in user, or why there is none."""

    user: SessionUser | None
    ended: Ended | None = None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _new_secret() -> str:
    return secrets.token_urlsafe(32)


def idle_limit(app: App) -> timedelta:
    return timedelta(minutes=app.settings.session_idle_minutes)


def start(app: App, login: str, client: str = "", user_agent: str = "") -> Started:
    """Open a session for a user whose password was just checked
    (:func:`hde_core.services.users.authenticate`, which audits the sign-in)."""
    now = app.clock.now()
    token, code = _new_secret(), _new_secret()
    with app.db.transaction() as session:
        user_id = session.scalar(
            select(User.id).where(User.login == login, User.is_active.is_(True))
        )
        if user_id is None:
            raise LookupError(f"no active user {login!r}")
        session.execute(
            delete(ConsoleSession)
            .where(
                ConsoleSession.user_id == user_id,
                or_(
                    ConsoleSession.revoked_at < now - KEEP_ENDED,
                    ConsoleSession.expires_at < now - KEEP_ENDED,
                ),
            )
            .execution_options(synchronize_session=False)
        )
        session.add(
            ConsoleSession(
                token_hash=token_hash(token),
                user_id=user_id,
                created_at=now,
                last_seen_at=now,
                expires_at=now + timedelta(hours=app.settings.session_max_hours),
                handoff_hash=token_hash(code),
                handoff_expires_at=now + HANDOFF_TTL,
                client=client[:64],
                user_agent=user_agent[:300],
            )
        )
    return Started(token, code)


def hand_off(app: App, code: str) -> str | None:
    """Swap a one-time code for the token the cookie will hold (a fresh one: the token the
    signing-in page used stops working). ``None``: unknown, used, late, or session over.
    One conditional UPDATE, so two requests with the same code cannot both win."""
    if not code:
        return None
    now = app.clock.now()
    token = _new_secret()
    with app.db.transaction() as session:
        done = session.execute(
            update(ConsoleSession)
            .where(
                ConsoleSession.handoff_hash == token_hash(code),
                ConsoleSession.handoff_expires_at > now,
                ConsoleSession.revoked_at.is_(None),
            )
            .values(token_hash=token_hash(token), handoff_hash=None, handoff_expires_at=None)
            .execution_options(synchronize_session=False)
        )
    return token if done.rowcount == 1 else None  # type: ignore[attr-defined]


def resume(app: App, token: str | None) -> Resumed:
    """Who holds this token now. Checks, on every page run: ended, expired (idle or
    absolute), user deactivated. The role is read fresh, so a role change applies at once."""
    if not token:
        return Resumed(None, None)
    now = app.clock.now()
    with app.db.reader() as session:
        row = session.execute(
            select(ConsoleSession, User)
            .join(User, User.id == ConsoleSession.user_id)
            .where(ConsoleSession.token_hash == token_hash(token))
        ).first()
    if row is None:
        return Resumed(None, Ended.UNKNOWN)
    cs, user = row
    if cs.revoked_at is not None:
        return Resumed(None, Ended(cs.ended_reason or Ended.SIGNED_OUT))
    if not user.is_active:
        _end(app, cs.id, Ended.DEACTIVATED, now)
        return Resumed(None, Ended.DEACTIVATED)
    if now >= cs.expires_at or now - cs.last_seen_at > idle_limit(app):
        _end(app, cs.id, Ended.EXPIRED, now)
        return Resumed(None, Ended.EXPIRED)
    if now - cs.last_seen_at >= TOUCH_EVERY:
        with app.db.transaction() as session:
            session.execute(
                update(ConsoleSession)
                .where(ConsoleSession.id == cs.id, ConsoleSession.revoked_at.is_(None))
                .values(last_seen_at=now)
                .execution_options(synchronize_session=False)
            )
    return Resumed(SessionUser(cs.id, user.login, Role(user.role), user.display_name))


def _end(app: App, session_id: int, reason: Ended, now: datetime) -> None:
    with app.db.transaction() as session:
        session.execute(
            update(ConsoleSession)
            .where(ConsoleSession.id == session_id, ConsoleSession.revoked_at.is_(None))
            .values(revoked_at=now, ended_reason=reason.value)
            .execution_options(synchronize_session=False)
        )


def end(app: App, token: str | None) -> bool:
    """Sign out: end the session this token belongs to (audited). False: nothing to end."""
    if not token:
        return False
    now = app.clock.now()
    with app.db.transaction() as session:
        row = session.execute(
            select(ConsoleSession.id, User.login)
            .join(User, User.id == ConsoleSession.user_id)
            .where(
                ConsoleSession.token_hash == token_hash(token),
                ConsoleSession.revoked_at.is_(None),
            )
        ).first()
        if row is None:
            return False
        session.execute(
            update(ConsoleSession)
            .where(ConsoleSession.id == row.id, ConsoleSession.revoked_at.is_(None))
            .values(revoked_at=now, ended_reason=Ended.SIGNED_OUT.value)
            .execution_options(synchronize_session=False)
        )
        audit.record(session, audit.Event.USER_SIGNED_OUT, row.login)
    return True


def end_all_for_user(
    session: Session,
    user_id: int,
    reason: Ended,
    actor: str,
    *,
    now: datetime,
    keep_token: str | None = None,
) -> int:
    """End every open session of one user in the caller's transaction (password changed or
    reset, user deactivated); ``keep_token`` spares the session that made the change.
    Audited with the count when any ended. Returns how many ended."""
    query = (
        update(ConsoleSession)
        .where(ConsoleSession.user_id == user_id, ConsoleSession.revoked_at.is_(None))
        .values(revoked_at=now, ended_reason=reason.value)
        .execution_options(synchronize_session=False)
    )
    if keep_token:
        query = query.where(ConsoleSession.token_hash != token_hash(keep_token))
    count: int = session.execute(query).rowcount  # type: ignore[attr-defined]
    if count:
        login = session.scalar(select(User.login).where(User.id == user_id))
        audit.record(
            session,
            audit.Event.SESSIONS_ENDED,
            actor,
            login=login,
            reason=reason.value,
            count=count,
        )
    return count
