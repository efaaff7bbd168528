"""Console sessions kept on the server (issue 16.1): start, hand-off to the cookie, resume,
expiry, sign-out, and every way a session is ended for a user. SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from hde_core.db.models import AuditEvent, ConsoleSession
from hde_core.errors import Refused
from hde_core.services import sessions
from hde_core.services.authz import SYSTEM
from hde_core.services.sessions import Ended, end, hand_off, resume, start
from hde_core.services.users import add_user, change_password, reset_password, set_active

PASSWORD = "correct-horse-42"


@pytest.fixture
def users(app):
    add_user(app, "boss", "admin", PASSWORD, SYSTEM)
    add_user(app, "ann", "agent", PASSWORD, SYSTEM, display_name="Ann")


def _events(app, event: str) -> list[AuditEvent]:
    with app.db.reader() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.event == event)))


def test_a_session_resumes_with_the_user_and_only_a_hash_is_stored(app, users):
    started = start(app, "ann", "10.0.0.5", "Mozilla/5.0")
    who = resume(app, started.token).user
    assert who is not None and (who.login, who.role, who.display_name) == ("ann", "agent", "Ann")
    with app.db.reader() as session:
        row = session.scalars(select(ConsoleSession)).one()
    assert started.token not in (row.token_hash, row.handoff_hash)
    assert row.token_hash == sessions.token_hash(started.token)
    assert (row.client, row.user_agent) == ("10.0.0.5", "Mozilla/5.0")


def test_the_hand_off_code_works_once_and_replaces_the_page_token(app, users, clock):
    started = start(app, "ann")
    cookie = hand_off(app, started.handoff)
    assert cookie and cookie != started.token
    assert resume(app, cookie).user is not None
    assert resume(app, started.token).user is None  # only the cookie holds the session now
    assert hand_off(app, started.handoff) is None  # used
    late = start(app, "ann")
    clock.advance(seconds=61)
    assert hand_off(app, late.handoff) is None  # too late
    assert hand_off(app, "made-up") is None and hand_off(app, "") is None


def test_sign_out_ends_the_session_and_a_replayed_token_is_refused(app, users):
    token = hand_off(app, start(app, "ann").handoff)
    assert end(app, token) is True
    assert resume(app, token) == sessions.Resumed(None, Ended.SIGNED_OUT)
    assert end(app, token) is False  # nothing left to end
    assert [e.actor for e in _events(app, "user_signed_out")] == ["ann"]


def test_idle_and_absolute_expiry(app, users, clock):
    token = start(app, "ann").token
    clock.advance(minutes=119)
    assert resume(app, token).user is not None  # activity slides the idle limit
    clock.advance(minutes=119)
    assert resume(app, token).user is not None
    clock.advance(minutes=121)
    assert resume(app, token) == sessions.Resumed(None, Ended.EXPIRED)
    assert resume(app, token).ended == Ended.EXPIRED  # stays ended

    busy = start(app, "ann").token
    for _ in range(12):  # active all day: still ends 12 hours after signing in
        clock.advance(minutes=60)
        found = resume(app, busy)
    assert found == sessions.Resumed(None, Ended.EXPIRED)


def test_last_seen_is_written_at_most_once_a_minute(app, users, clock):
    token = start(app, "ann").token
    first = clock.now()
    clock.advance(seconds=30)
    resume(app, token)
    with app.db.reader() as session:
        assert session.scalars(select(ConsoleSession.last_seen_at)).one() == first
    clock.advance(seconds=31)
    resume(app, token)
    with app.db.reader() as session:
        assert session.scalars(select(ConsoleSession.last_seen_at)).one() == clock.now()


def test_changing_the_password_ends_the_other_sessions_of_that_user(app, users):
    here, other_tab = start(app, "ann").token, start(app, "ann").token
    boss = start(app, "boss").token
    assert change_password(app, "ann", PASSWORD, "a-new-password-1", keep_token=here) == 1
    assert resume(app, other_tab) == sessions.Resumed(None, Ended.PASSWORD_CHANGED)
    assert resume(app, here).user is not None  # the one that changed it stays
    assert resume(app, boss).user is not None  # other users are not touched
    [ended] = _events(app, "sessions_ended")
    assert ended.data == {"login": "ann", "reason": "password_changed", "count": 1}
    assert len(_events(app, "password_changed")) == 1


def test_a_wrong_current_password_changes_nothing(app, users):
    token = start(app, "ann").token
    with pytest.raises(Refused):
        change_password(app, "ann", "not-my-password", "a-new-password-1")
    assert resume(app, token).user is not None
    assert _events(app, "password_changed") == []


def test_deactivating_a_user_ends_all_their_sessions(app, users):
    tokens = [start(app, "ann").token for _ in range(2)]
    set_active(app, "ann", False, "boss")
    assert {resume(app, t).ended for t in tokens} == {Ended.DEACTIVATED}
    [ended] = _events(app, "sessions_ended")
    assert ended.actor == "boss" and ended.data["count"] == 2
    set_active(app, "ann", True, "boss")
    assert resume(app, tokens[0]).user is None  # reactivation does not revive them


def test_an_unknown_token_is_nobody(app, users):
    assert resume(app, "forged") == sessions.Resumed(None, Ended.UNKNOWN)
    assert resume(app, None) == sessions.Resumed(None, None)


def test_sessions_over_for_a_month_are_deleted_at_the_next_sign_in(app, users, clock):
    old = start(app, "ann").token
    end(app, old)
    recent = start(app, "ann").token
    clock.advance(days=31)
    start(app, "ann")
    with app.db.reader() as session:
        left = set(session.scalars(select(ConsoleSession.token_hash)))
    assert sessions.token_hash(old) not in left
    assert sessions.token_hash(recent) not in left  # expired 30+ days ago too
    assert len(left) == 1


def test_an_admin_resetting_a_password_ends_every_session_of_that_user(app, users):
    tokens = [start(app, "ann").token for _ in range(2)]
    boss = start(app, "boss").token
    reset_password(app, "ann", "given-by-admin-1", "boss")
    assert {resume(app, t).ended for t in tokens} == {Ended.PASSWORD_CHANGED}
    assert resume(app, boss).user is not None
    [ended] = _events(app, "sessions_ended")
    assert ended.actor == "boss" and ended.data == {
        "login": "ann",
        "reason": "password_changed",
        "count": 2,
    }
