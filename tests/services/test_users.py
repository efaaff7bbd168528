"""Console users: roles, password rules, a pause after repeated failures (SPEC §6)."""

import pytest

from hde_core.errors import UsageError
from hde_core.services.authz import SYSTEM
from hde_core.services.users import MAX_FAILURES, add_user, authenticate, paused_until


def test_sign_in_with_the_right_password(app):
    add_user(app, "lead", "team_lead", "s3cret-pass", SYSTEM)
    who = authenticate(app, "lead", "s3cret-pass")
    assert who is not None and who.role == "team_lead"
    assert authenticate(app, "lead", "wrong-pass") is None
    assert authenticate(app, "ghost", "s3cret-pass") is None


@pytest.mark.parametrize(
    ("login", "role", "password"),
    [("x", "agent", "password1"), ("ok", "boss", "password1"), ("ok", "agent", "short")],
)
def test_bad_user_is_refused(app, login, role, password):
    with pytest.raises(UsageError):
        add_user(app, login, role, password, SYSTEM)


def test_duplicate_login_is_refused(app):
    add_user(app, "ann", "agent", "password1", SYSTEM)
    with pytest.raises(UsageError):
        add_user(app, "ann", "viewer", "password2", SYSTEM)


def test_pause_after_repeated_failures(app, clock):
    add_user(app, "ann", "agent", "password1", SYSTEM)
    for _ in range(MAX_FAILURES):
        assert authenticate(app, "ann", "nope") is None
    assert authenticate(app, "ann", "password1") is None  # paused even with the right password
    clock.advance(minutes=6)
    assert authenticate(app, "ann", "password1") is not None


def test_a_pause_says_the_same_whether_the_login_exists_or_not(app):
    add_user(app, "ann", "admin", "password1", SYSTEM)
    for login in ("ann", "nobody"):
        for _ in range(MAX_FAILURES):
            assert authenticate(app, login, "nope", "10.0.0.9") is None
    exists, missing = (paused_until(app, x, "10.0.0.9") for x in ("ann", "nobody"))
    assert exists is not None and exists == missing  # before: only "ann" showed a pause


def test_nobody_keeps_an_admin_out_by_failing_from_elsewhere(app):
    add_user(app, "boss", "admin", "password1", SYSTEM)
    for _ in range(MAX_FAILURES * 3):
        assert authenticate(app, "boss", "guess", "203.0.113.7") is None
    assert paused_until(app, "boss", "203.0.113.7") is not None  # the attacker waits
    assert paused_until(app, "boss", "10.0.0.2") is None
    assert authenticate(app, "boss", "password1", "10.0.0.2") is not None  # she does not


def test_one_client_guessing_across_logins_is_paused_for_all(app, clock):
    from hde_core.services.signin import CLIENT_FAILURES

    for n in range(CLIENT_FAILURES):
        assert authenticate(app, f"user{n}", "guess", "198.51.100.1") is None
    assert paused_until(app, "someone-else", "198.51.100.1") is not None
    assert paused_until(app, "someone-else", "198.51.100.2") is None
    clock.advance(minutes=16)
    assert paused_until(app, "someone-else", "198.51.100.1") is None
