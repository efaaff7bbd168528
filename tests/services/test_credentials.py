"""HDE_SECRET_KEY changes (issue 14.6): processes refuse to start with a key that cannot read
the stored secrets; ``rotate`` moves them to a new key; re-entering credentials works
without the old value, in provisioning and in the console's settings call."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from hde_core.bootstrap import App, bootstrap
from hde_core.config import Settings
from hde_core.db.models import Channel, Department
from hde_core.errors import ConfigError
from hde_core.security.crypto import SecretBox
from hde_core.services.authz import SYSTEM, NotAllowed
from hde_core.services.credentials import require_readable, rotate, unreadable
from hde_core.services.provision import provision
from hde_core.services.settings import list_channels, save_channel
from tests.conftest import TEST_SECRET
from tests.services.helpers import provision_text
from tests.staff import seed_staff

NEW_KEY = "a-brand-new-secret-key-0987654321"
TELEGRAM = """
[[channels]]
name = "tg"
kind = "telegram"
provider = "telegram"
api_base = "http://127.0.0.1:9"
webhook_secret = "hook-secret-123"

[channels.credentials]
bot_token = "123456:OLD-TOKEN-abcd"
"""


@pytest.fixture
def world(app, tmp_path):
    path = provision_text(tmp_path, "smtp://user:s3cret-pass@127.0.0.1:2525")
    path.write_text(path.read_text(encoding="utf-8") + TELEGRAM, encoding="utf-8")
    provision(app, path, SYSTEM)
    seed_staff(app)
    with app.db.transaction() as session:
        from hde_core.db.models import User

        session.add(User(login="viewer", role="viewer", password_hash="x", display_name=""))
    return path


def _with_key(app: App, key: str) -> App:
    settings = Settings(
        database_url=app.settings.database_url,
        secret_key=key,
        data_dir=app.settings.data_dir,
        lang="en",
    )
    return bootstrap(settings, clock=app.clock)


def _tokens(app: App) -> list[str]:
    with app.db.reader() as s:
        return [
            t
            for t in [
                *s.scalars(select(Channel.credentials_enc)),
                *s.scalars(select(Channel.webhook_secret_enc)),
                *s.scalars(select(Department.smtp_url_enc)),
            ]
            if t
        ]


def test_a_process_with_another_key_refuses_to_start_in_one_line(app, world):
    require_readable(app)  # the right key: nothing to say
    other = _with_key(app, NEW_KEY)
    try:
        with pytest.raises(ConfigError) as caught:
            require_readable(other)
        text = caught.value.message("en")
        assert "cannot read 4 stored secret(s)" in text and "hde secrets rotate" in text
    finally:
        other.close()


def test_rotate_moves_every_secret_to_the_new_key_once(app, world):
    before = _tokens(app)
    with pytest.raises(NotAllowed):
        rotate(app, TEST_SECRET, NEW_KEY, "viewer")
    assert _tokens(app) == before
    report = rotate(app, TEST_SECRET, NEW_KEY, "admin")
    assert (report.rotated, report.already, report.lost) == (4, 0, [])
    new, old = SecretBox(NEW_KEY), SecretBox(TEST_SECRET)
    assert all(new.readable(t) and not old.readable(t) for t in _tokens(app))
    again = rotate(app, TEST_SECRET, NEW_KEY, "admin")
    assert (again.rotated, again.already) == (0, 4)
    moved = _with_key(app, NEW_KEY)
    try:
        require_readable(moved)
        assert unreadable(moved) == []
        (tg,) = [c for c in list_channels(moved) if c.name == "tg"]
        assert tg.credentials == {"bot_token": "••••abcd"}
    finally:
        moved.close()


def test_after_a_key_change_provisioning_enters_the_credentials_again(app, world):
    other = _with_key(app, NEW_KEY)
    try:
        provision(other, world, SYSTEM)  # used to fail: it decrypted the old value first
        assert unreadable(other) == []
        with other.db.reader() as s:
            tg = s.scalar(select(Channel).where(Channel.name == "tg"))
            assert other.secrets.decrypt_json(tg.credentials_enc) == {
                "bot_token": "123456:OLD-TOKEN-abcd"
            }
    finally:
        other.close()


def test_after_a_key_change_the_console_enters_a_credential_again(app, world):
    other = _with_key(app, NEW_KEY)
    try:
        (tg,) = [c for c in list_channels(other) if c.name == "tg"]
        assert tg.credentials == {"bot_token": ""}  # shown as not set: the form asks for it
        save_channel(
            other,
            {
                "name": "tg",
                "credentials": {"bot_token": "999:NEW-TOKEN-zzzz"},
                "webhook_secret": "new-hook-secret",
            },
            "admin",
            check=False,
        )
        assert unreadable(other) == [
            "department First line: SMTP URL",
            "department IT: SMTP URL",
        ] or sorted(unreadable(other)) == [
            "department First line: SMTP URL",
            "department IT: SMTP URL",
        ]
        with other.db.reader() as s:
            tg_row = s.scalar(select(Channel).where(Channel.name == "tg"))
            assert other.secrets.decrypt_json(tg_row.credentials_enc) == {
                "bot_token": "999:NEW-TOKEN-zzzz"
            }
    finally:
        other.close()
