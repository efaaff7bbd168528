"""The people a test acts as. Every use case that changes something checks that its
actor is an active user with the right role (services.authz), so the worlds the
tests build include their staff, under the names the tests have always used."""

from __future__ import annotations

from sqlalchemy import select

from hde_core.bootstrap import App
from hde_core.db.models import User

#: login → role of the people the shared test helpers create (existing logins are kept).
STAFF = {
    "admin": "admin",
    "setup": "admin",
    "test": "admin",
    "tester": "admin",
    "lead": "team_lead",
    "alice": "agent",
    "agent": "agent",
    "a": "agent",
}


def seed_staff(app: App) -> None:
    with app.db.transaction() as session:
        existing = set(session.scalars(select(User.login).where(User.login.in_(STAFF))))
        for login, role in STAFF.items():
            if login not in existing:
                session.add(User(login=login, role=role, password_hash="x", display_name=login))
