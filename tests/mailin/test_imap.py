"""Reading a department mailbox over IMAP from a real Dovecot, on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from imapclient import IMAPClient
from sqlalchemy import select, update

from hde_core.bootstrap import App
from hde_core.db.models import Department, InboundMessage, MailCursor, Message
from hde_core.mailin.imap import ImapWatcher, imap_mailboxes, poll_mailbox
from tests.mailin import mails
from tests.mailin.conftest import SentEmail
from tests.mailin.dovecot import Dovecot, start_dovecot, stop_dovecot

pytestmark = pytest.mark.process


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    # not under pytest's tmp_path: its parents are private to root, and Dovecot's own
    # user must reach the files
    root = Path(tempfile.mkdtemp(prefix="hde-dovecot-"))
    try:
        server, proc = start_dovecot(root)
        try:
            yield server
        finally:
            stop_dovecot(proc)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def mailbox_app(app: App, sent: SentEmail, dovecot: Dovecot) -> App:
    """The department of the sent email reads its mailbox from Dovecot."""
    with app.db.transaction() as s:
        s.execute(
            update(Department)
            .where(Department.name == "First line")
            .values(imap_url_enc=app.secrets.encrypt(dovecot.url()))
        )
    return app


def deliver(dovecot: Dovecot, *raws: bytes) -> None:
    with IMAPClient(dovecot.host, port=dovecot.port, ssl=False) as client:
        client.login(dovecot.login, dovecot.password)
        for raw in raws:
            client.append("INBOX", raw)


def flags(dovecot: Dovecot) -> dict[int, tuple[bytes, ...]]:
    with IMAPClient(dovecot.host, port=dovecot.port, ssl=False) as client:
        client.login(dovecot.login, dovecot.password)
        client.select_folder("INBOX", readonly=True)
        return {
            uid: data[b"FLAGS"]
            for uid, data in client.fetch(client.search(["ALL"]), ["FLAGS"]).items()
        }


def poll(app: App) -> dict[str, int]:
    (mailbox,) = imap_mailboxes(app)
    client = mailbox.target.connect()
    try:
        return dict(poll_mailbox(app, mailbox, client))
    finally:
        client.logout()


def inbound(app: App) -> list[InboundMessage]:
    with app.db.reader() as s:
        return list(s.scalars(select(InboundMessage).order_by(InboundMessage.id)))


def test_a_reply_in_the_mailbox_is_recorded_and_marked_seen(
    mailbox_app: App, sent: SentEmail, dovecot: Dovecot
) -> None:
    deliver(dovecot, mails.reply(in_reply_to=sent.provider_message_id, text="Приеду в пятницу."))
    assert poll(mailbox_app) == {"reply": 1}
    (row,) = inbound(mailbox_app)
    assert row.text == "Приеду в пятницу."
    assert row.raw["reply_to"][0] == sent.provider_message_id
    assert b"\\Seen" in flags(dovecot)[1]


def test_nothing_is_read_twice_across_restarts_and_the_same_email_is_stored_once(
    mailbox_app: App, sent: SentEmail, dovecot: Dovecot
) -> None:
    same = mails.reply(in_reply_to=sent.provider_message_id)
    deliver(dovecot, same, same)  # the same email twice in the mailbox (two UIDs)
    assert poll(mailbox_app) == {"reply": 2}
    assert len(inbound(mailbox_app)) == 1
    assert poll(mailbox_app) == {}  # a new connection (a restart) starts at the cursor
    deliver(dovecot, mails.reply(in_reply_to=sent.provider_message_id, text="И ещё вопрос."))
    assert poll(mailbox_app) == {"reply": 1}
    assert [r.text for r in inbound(mailbox_app)][-1] == "И ещё вопрос."
    with mailbox_app.db.reader() as s:
        cursor = s.scalars(select(MailCursor)).one()
        assert cursor.last_uid == 3 and cursor.folder == "INBOX"


def test_a_recreated_folder_is_read_again_without_storing_anything_twice(
    mailbox_app: App, sent: SentEmail, dovecot: Dovecot
) -> None:
    deliver(dovecot, mails.reply(in_reply_to=sent.provider_message_id))
    poll(mailbox_app)
    with mailbox_app.db.transaction() as s:  # as if the folder had another UIDVALIDITY
        s.execute(update(MailCursor).values(uidvalidity=MailCursor.uidvalidity + 1))
    assert poll(mailbox_app) == {"reply": 1}
    assert len(inbound(mailbox_app)) == 1


def test_a_bounce_and_an_auto_reply_are_told_apart(
    mailbox_app: App, sent: SentEmail, dovecot: Dovecot
) -> None:
    deliver(
        dovecot,
        mails.out_of_office(in_reply_to=sent.provider_message_id),
        mails.bounce(original_id=sent.provider_message_id, recipient="anna@client.example"),
    )
    assert poll(mailbox_app) == {"auto_reply": 1, "bounce": 1}
    (row,) = inbound(mailbox_app)
    assert row.raw["auto_reply"] is True
    with mailbox_app.db.reader() as s:
        ours = s.get(Message, sent.message_id)
        assert ours is not None and ours.status == "failed"
        assert ours.error_text and "User unknown" in ours.error_text


def test_a_malformed_email_is_flagged_logged_and_does_not_block_the_next(
    mailbox_app: App, sent: SentEmail, dovecot: Dovecot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="hde.mailin")
    deliver(
        dovecot,
        b"Subject: who am I\r\n\r\nno sender at all\r\n",
        mails.reply(in_reply_to=sent.provider_message_id),
    )
    assert poll(mailbox_app) == {"malformed": 1, "reply": 1}
    assert len(inbound(mailbox_app)) == 1
    seen = flags(dovecot)
    assert b"\\Flagged" in seen[1] and b"\\Seen" not in seen[1]
    assert b"\\Seen" in seen[2]
    assert any("refused: no readable sender" in r.getMessage() for r in caplog.records)
    assert poll(mailbox_app) == {}  # the cursor moved past it: not refused again and again


def test_the_watcher_idles_and_picks_up_new_mail_without_waiting_for_its_interval(
    mailbox_app: App, sent: SentEmail, dovecot: Dovecot
) -> None:
    (mailbox,) = imap_mailboxes(mailbox_app)
    watcher = ImapWatcher(mailbox_app, mailbox, interval=600).start()
    try:
        deadline = time.monotonic() + 30
        while watcher.polls == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert watcher.polls == 1  # first poll done; now idling for up to 10 minutes
        deliver(dovecot, mails.reply(in_reply_to=sent.provider_message_id))
        while not inbound(mailbox_app) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(inbound(mailbox_app)) == 1
    finally:
        watcher.stop()


def test_an_admin_sets_the_mailbox_in_the_settings_and_a_wrong_password_shows_at_once(
    app: App, sent: SentEmail, dovecot: Dovecot
) -> None:
    from hde_core.errors import PermissionDenied
    from hde_core.services.settings import SettingsInvalid, list_departments, save_department

    wrong = dovecot.url().replace(dovecot.password, "wrong-pass")
    saved = save_department(
        app, {"name": "First line", "mailbox": "support@company.com", "imap_url": wrong}, "admin"
    )
    assert saved.changes == ["imap_url"] and saved.imap_ok is False
    assert "wrong-pass" not in saved.imap_detail
    saved = save_department(
        app,
        {"name": "First line", "mailbox": "support@company.com", "imap_url": dovecot.url()},
        "admin",
    )
    assert saved.imap_ok is True, saved.imap_detail
    view = next(d for d in list_departments(app) if d.name == "First line")
    assert view.imap_url == f"imap://desk:••••@127.0.0.1:{dovecot.port}/INBOX"
    assert dovecot.password not in repr(view)
    (mailbox,) = imap_mailboxes(app)
    assert mailbox.url == dovecot.url() and mailbox.address == "support@company.com"
    # left empty, the saved URL stays
    saved = save_department(
        app, {"name": "First line", "mailbox": "support@company.com", "imap_url": ""}, "admin"
    )
    assert saved.changes == [] and imap_mailboxes(app) == [mailbox]
    with pytest.raises(SettingsInvalid) as caught:
        save_department(
            app, {"name": "IT", "mailbox": "it@company.com", "imap_url": "ftp://x/"}, "admin"
        )
    assert [p.name for p in caught.value.problems] == ["imap_url"]
    assert caught.value.lines("en") == [
        "IMAP mailbox: write imap://user:password@host:143/INBOX, "
        "imap://user:password@host/INBOX?starttls=required or imaps://user:password@host:993/INBOX."
    ]
    with pytest.raises(PermissionDenied):
        save_department(
            app,
            {"name": "IT", "mailbox": "it@company.com", "imap_url": dovecot.url()},
            "lead",  # a team lead: settings of departments are the admin's
        )


def test_two_mail_in_processes_on_one_mailbox_store_each_email_once(
    mailbox_app: App, sent: SentEmail, dovecot: Dovecot
) -> None:
    """Two `hde mail-in` running at once (two machines, a restart overlapping): every
    email stored once, none lost, the cursor at the end."""
    import threading

    count = 12
    deliver(
        dovecot,
        *(
            mails.reply(
                sender=f"Client {i} <client{i}@client.example>",
                in_reply_to=sent.provider_message_id,
                text=f"Ответ номер {i}",
            )
            for i in range(count)
        ),
    )
    errors: list[BaseException] = []
    done: list[bool] = []

    def run() -> None:
        try:
            poll(mailbox_app)
            done.append(True)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == [] and done == [True, True]
    assert sorted(r.text for r in inbound(mailbox_app)) == sorted(
        f"Ответ номер {i}" for i in range(count)
    )
    assert all(b"\\Seen" in f for f in flags(dovecot).values())
    with mailbox_app.db.reader() as s:
        assert s.scalars(select(MailCursor.last_uid)).one() == count
