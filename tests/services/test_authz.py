"""One permission check (SPEC §6): active users by role, nobody unknown, processes by type."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from hde_core.db.models import User
from hde_core.domain.roles import PERMISSIONS, Permission, Role
from hde_core.services.authz import WORKER, NotAllowed, SystemActor, authorize, may, needed_role

ROLES = list(Role)


@pytest.fixture
def people(app):
    """One active user per role, plus a disabled admin."""
    with app.db.transaction() as session:
        for role in Role:
            session.add(User(login=role.value, role=role.value, password_hash="x", display_name=""))
        session.add(
            User(login="gone", role="admin", password_hash="x", display_name="", is_active=False)
        )
    return app


@pytest.mark.parametrize("permission", list(Permission))
@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_exactly_its_permissions(people, role, permission):
    allowed = permission in PERMISSIONS[role]
    assert may(people, role.value, permission) is allowed
    if allowed:
        assert authorize(people, role.value, permission) == role
    else:
        with pytest.raises(NotAllowed):
            authorize(people, role.value, permission)


def test_the_roles_are_ordered_so_each_has_what_the_one_below_has():
    for lower, higher in zip(ROLES[::-1], ROLES[::-1][1:], strict=False):
        assert PERMISSIONS[lower] <= PERMISSIONS[higher]


@pytest.mark.parametrize("actor", ["ghost", "gone", ""])
def test_unknown_or_disabled_actors_may_do_nothing_not_even_view(people, actor):
    for permission in Permission:
        assert not may(people, actor, permission)
    with pytest.raises(NotAllowed) as caught:
        authorize(people, actor, Permission.VIEW)
    assert "not an active console user" in caught.value.message("en")


def test_the_check_can_run_inside_the_use_cases_transaction(people):
    with people.db.transaction() as session:
        assert authorize(session, "team_lead", Permission.BULK_SEND) == Role.TEAM_LEAD
        session.execute(update(User).where(User.login == "team_lead").values(is_active=False))
        with pytest.raises(NotAllowed):
            authorize(session, "team_lead", Permission.BULK_SEND)


def test_the_refusal_says_in_plain_words_which_role_may(people):
    with pytest.raises(NotAllowed) as caught:
        authorize(people, "viewer", Permission.BULK_SEND)
    error = caught.value
    assert error.exit_code == 2
    en = error.message("en")
    assert "'viewer' is viewer and may not launch, pause, resume or cancel bulk runs" in en
    assert "a team lead or an admin may" in en
    assert "руководитель группы или администратор" in error.message("ru")
    with pytest.raises(NotAllowed) as caught:
        authorize(people, "team_lead", Permission.MANAGE_USERS)
    assert "only an admin may" in caught.value.message("en")


def test_a_system_actor_acts_but_a_login_spelled_like_it_does_not(people):
    assert authorize(people, WORKER, Permission.BULK_SEND) is None
    assert may(people, SystemActor("provision"), Permission.MANAGE_CHANNELS)
    assert not may(people, "worker", Permission.BULK_SEND)  # a plain string is a login
    assert str(WORKER) == "worker"


def test_only_a_person_may_do_what_a_process_must_not(people):
    with pytest.raises(NotAllowed) as caught:
        authorize(people, WORKER, Permission.CHANNEL_SETTINGS, system_allowed=False)
    assert "Only a person may change channel settings" in caught.value.message("en")
    assert authorize(people, "admin", Permission.CHANNEL_SETTINGS, system_allowed=False)


def test_needed_role_is_the_lowest_role_holding_the_permission():
    assert needed_role(Permission.VIEW) == Role.VIEWER
    assert needed_role(Permission.CREATE_TICKET) == Role.AGENT
    assert needed_role(Permission.RESEND_UNCERTAIN) == Role.TEAM_LEAD
    assert needed_role(Permission.MANAGE_CHANNELS) == Role.ADMIN


# -- every changing use case checks, whatever face calls it (issue 14.5) -------------------


def _snapshot(app):
    from sqlalchemy import select as sa_select

    from hde_core.db.models import Base

    with app.db.reader() as session:
        return {
            t.name: sorted(map(repr, session.execute(sa_select(t)).all()))
            for t in Base.metadata.sorted_tables
        }


@pytest.fixture
def world(app, tmp_path):
    from hde_core.services import campaigns
    from hde_core.services.authz import SYSTEM
    from tests.services.helpers import provision_email

    provision_email(app, tmp_path, "smtp://127.0.0.1:9")
    with app.db.transaction() as session:
        session.add(User(login="viewer", role="viewer", password_hash="x", display_name=""))
        session.add(User(login="boss", role="admin", password_hash="x", display_name=""))
    csv = b"Email;order_id\nanna@example.com;A-1\n"
    campaigns.launch(
        app, campaigns.SendRequest(csv, ["email"], "S", "B", "l.csv", campaign_key="run"), SYSTEM
    )
    return app


def _use_cases(tmp_path):
    from hde_core.services import campaigns, messages, pricing, provision, templates, tickets, users
    from tests.services.helpers import provision_text

    csv = b"Email;order_id\nboris@example.com;B-1\n"
    return {
        "launch": lambda app, who: campaigns.launch(
            app, campaigns.SendRequest(csv, ["email"], "S", "B", "b.csv"), who
        ),
        "pause": lambda app, who: campaigns.pause(app, "run", who),
        "cancel": lambda app, who: campaigns.cancel(app, "run", who),
        "add admin": lambda app, who: users.add_user(app, "evil_admin", "admin", "password-1", who),
        "set role": lambda app, who: users.set_role(app, "viewer", "admin", who),
        "provision": lambda app, who: provision.provision(
            app, provision_text(tmp_path, "smtp://127.0.0.1:9"), who
        ),
        "ticket": lambda app, who: tickets.create_ticket(
            app,
            tickets.TicketRequest("email", "v@example.com", "S", "B", fields={"order_id": "1"}),
            who,
        ),
        "resend": lambda app, who: messages.resend(app, [1], who),
        "price": lambda app, who: pricing.set_price(app, "utility", "0.01", who),
        "sync interval": lambda app, who: templates.set_sync_interval(app, 5, who),
    }


@pytest.mark.parametrize("who", ["viewer", "ghost"])
@pytest.mark.parametrize(
    "use_case",
    [
        "launch",
        "pause",
        "cancel",
        "add admin",
        "set role",
        "provision",
        "ticket",
        "resend",
        "price",
        "sync interval",
    ],
)
def test_a_direct_service_call_without_the_role_is_refused_and_changes_nothing(
    world, tmp_path, who, use_case
):
    call = _use_cases(tmp_path)[use_case]
    before = _snapshot(world)
    with pytest.raises(NotAllowed):
        call(world, who)
    assert _snapshot(world) == before
    call(world, "boss")  # the same call by an admin goes through
