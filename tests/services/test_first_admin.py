"""Two first-admin creations at the same moment (issue 14.5): exactly one admin results,
the others are refused in plain words — on SQLite and on PostgreSQL (where, before the
advisory lock, all four became admins)."""

from __future__ import annotations

import threading

from sqlalchemy import select

from hde_core.db.models import User
from hde_core.errors import HdeError
from hde_core.services.users import add_user

RACERS = 4


def test_first_admins_created_at_the_same_moment_give_exactly_one(app):
    start = threading.Barrier(RACERS)
    refused: list[str] = []
    errors: list[BaseException] = []

    def create(i: int) -> None:
        start.wait()
        try:
            add_user(app, f"boss{i}", "admin", "a-long-password-1", "whoever")
        except HdeError as exc:
            refused.append(exc.message("en"))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(RACERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    with app.db.reader() as s:
        admins = list(s.scalars(select(User.login).where(User.role == "admin")))
    assert len(admins) == 1, admins
    assert len(refused) == RACERS - 1
    # PostgreSQL: the losers waited on the lock and say why; SQLite's writers queue at
    # BEGIN IMMEDIATE, so a loser simply comes after the admin exists, like a later command
    plain = (
        "created by someone else at the same moment",
        "'whoever' is not an active console user",
    )
    assert all(any(p in m for p in plain) for m in refused), refused
