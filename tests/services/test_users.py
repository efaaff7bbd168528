"""Console users: roles, password rules, a pause after repeated failures (SPEC §6)."""

import pytest

from hde_core.errors import UsageError
from hde_core.services.users import MAX_FAILURES, add_user, authenticate


def test_sign_in_with_the_right_password(app):
    add_user(app, "lead", "team_lead", "s3cret-pass", "admin")
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
        add_user(app, login, role, password, "admin")


def test_duplicate_login_is_refused(app):
    add_user(app, "ann", "agent", "password1", "admin")
    with pytest.raises(UsageError):
        add_user(app, "ann", "viewer", "password2", "admin")


def test_pause_after_repeated_failures(app, clock):
    add_user(app, "ann", "agent", "password1", "admin")
    for _ in range(MAX_FAILURES):
        assert authenticate(app, "ann", "nope") is None
    assert authenticate(app, "ann", "password1") is None  # paused even with the right password
    clock.advance(minutes=6)
    assert authenticate(app, "ann", "password1") is not None
