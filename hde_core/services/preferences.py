"""Per-user console preferences kept in the core (issue 16.7): the interface language a
user picked follows them across pages, tabs and sign-ins. Stored as one ``app_settings``
row per user and preference (``user:<login>:lang``), so no schema change is needed."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from hde_core.bootstrap import App
from hde_core.db.models import AppSetting
from hde_core.errors import UsageError
from hde_core.i18n import LANGS


def _lang_key(login: str) -> str:
    return f"user:{login}:lang"


def preferred_lang(app: App, login: str) -> str | None:
    """The language ``login`` picked last, or None if they never picked one."""
    with app.db.reader() as session:
        row = session.get(AppSetting, _lang_key(login))
        value = row.value if row is not None else None
    return value if value in LANGS else None


def set_preferred_lang(app: App, login: str, lang: str) -> None:
    """Remember ``login``'s language (a user may only set their own; the console calls
    this for the signed-in user)."""
    if lang not in LANGS:
        raise UsageError("error.lang_unknown", lang=lang, known=", ".join(LANGS))
    _put(app, _lang_key(login), lang, login)


def _put(app: App, key: str, value: str, login: str) -> None:
    """Write one of ``login``'s own settings (insert or update)."""
    for _ in range(2):  # two tabs writing it first at once: the second updates
        try:
            with app.db.transaction() as session:
                row = session.get(AppSetting, key)
                if row is None:
                    row = AppSetting(key=key, value=value, updated_by=login)
                    session.add(row)
                row.value = value
                row.updated_by = login
                row.updated_at = app.clock.now()
            return
        except IntegrityError:
            continue


def _test_address_key(login: str) -> str:
    return f"user:{login}:test_address"


def last_test_address(app: App, login: str) -> str | None:
    """Where ``login`` sent their last test send (issue 16.3), offered again next time."""
    with app.db.reader() as session:
        row = session.get(AppSetting, _test_address_key(login))
        return row.value if row is not None and row.value else None


def remember_test_address(app: App, login: str, address: str) -> None:
    """Keep the address of ``login``'s test send (their own; the console calls this for
    the signed-in user after a test went out)."""
    _put(app, _test_address_key(login), address, login)
