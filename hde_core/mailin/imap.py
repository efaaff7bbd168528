"""Reading department mailboxes over IMAP (``hde mail-in``; IDLE where the server offers it).

Why it is shaped so:

- **Nothing read twice, nothing lost.** Each department folder has a cursor
  (``mail_cursors``: the folder's UIDVALIDITY and the last UID recorded). A poll
  fetches the UIDs above it, records each message, then moves the cursor past it in
  its own transaction. A crash between the two re-reads one message on restart,
  and the inbound row is unique per Message-ID, so it is stored once. A changed
  UIDVALIDITY (the folder was recreated) reads the folder again from the start,
  with the same protection.
- **Messages stay in the mailbox, marked.** A recorded message gets ``\\Seen``; a
  malformed one ``\\Flagged`` (and stays unread) for a person to look at, with one
  log line; either way the cursor moves on, so one bad message never blocks the
  next. Nothing is moved or deleted: the mailbox remains the team's archive.
- **A database failure stops the poll** before the cursor moves: the message is read
  again at the next poll.
- ``BODY.PEEK[]`` fetches without setting ``\\Seen`` by itself: only a recorded
  message is marked.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from imapclient import IMAPClient
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from hde_core.bootstrap import App
from hde_core.channels.imap import ImapTarget, mask_imap_url
from hde_core.db.models import Department, MailCursor
from hde_core.mailin.receive import receive_email

log = logging.getLogger("hde.mailin")

BATCH = 50
#: Longest one IDLE lasts before it is renewed (RFC 2177 asks for under 29 minutes).
IDLE_RENEW = 20 * 60


@dataclass(frozen=True)
class Mailbox:
    department_id: int
    department: str
    url: str = field(repr=False)  # holds the password
    address: str = ""  # the department's mailbox: where everything in this folder was sent

    @property
    def target(self) -> ImapTarget:
        return ImapTarget.parse(self.url)


def imap_mailboxes(app: App) -> list[Mailbox]:
    """Every department mailbox with an IMAP URL the current key can read."""
    with app.db.reader() as session:
        rows = session.execute(
            select(Department.id, Department.name, Department.imap_url_enc, Department.mailbox)
            .where(Department.imap_url_enc.is_not(None))
            .order_by(Department.id)
        ).all()
    found = []
    for dept_id, name, token, address in rows:
        if not token or not app.secrets.readable(token):
            log.warning("department %s: IMAP URL unreadable with this HDE_SECRET_KEY", name)
            continue
        found.append(Mailbox(dept_id, name, app.secrets.decrypt(token), address))
    return found


def _cursor(app: App, department_id: int, folder: str) -> tuple[int, int] | None:
    with app.db.reader() as session:
        row = session.scalar(
            select(MailCursor).where(
                MailCursor.department_id == department_id, MailCursor.folder == folder
            )
        )
        return (row.uidvalidity, row.last_uid) if row else None


def _save_cursor(app: App, department_id: int, folder: str, uidvalidity: int, uid: int) -> None:
    try:
        _write_cursor(app, department_id, folder, uidvalidity, uid)
    except IntegrityError:  # another poller created the first cursor a moment ago
        _write_cursor(app, department_id, folder, uidvalidity, uid)


def _write_cursor(app: App, department_id: int, folder: str, uidvalidity: int, uid: int) -> None:
    with app.db.transaction() as session:
        row = session.scalar(
            select(MailCursor)
            .where(MailCursor.department_id == department_id, MailCursor.folder == folder)
            .with_for_update()
        )
        if row is None:
            session.add(
                MailCursor(
                    department_id=department_id,
                    folder=folder,
                    uidvalidity=uidvalidity,
                    last_uid=uid,
                    updated_at=app.clock.now(),
                )
            )
        elif row.uidvalidity != uidvalidity or uid > row.last_uid:
            row.uidvalidity = uidvalidity
            row.last_uid = uid
            row.updated_at = app.clock.now()


def poll_mailbox(app: App, mailbox: Mailbox, client: IMAPClient) -> Counter[str]:
    """Record every message above the cursor of ``mailbox`` (``client`` is logged in)."""
    folder = mailbox.target.folder
    info = client.select_folder(folder)
    uidvalidity = int(info[b"UIDVALIDITY"])
    cursor = _cursor(app, mailbox.department_id, folder)
    last = 0
    if cursor is not None:
        if cursor[0] == uidvalidity:
            last = cursor[1]
        else:
            log.warning(
                "department %s, folder %s: UIDVALIDITY changed (%s → %s), reading it again; "
                "messages already stored are skipped by Message-ID",
                mailbox.department,
                folder,
                cursor[0],
                uidvalidity,
            )
    # "n:*" always includes the newest message, even below n: keep only the new ones
    uids = sorted(u for u in client.search(["UID", f"{last + 1}:*"]) if u > last)
    counts: Counter[str] = Counter()
    for start in range(0, len(uids), BATCH):
        batch = uids[start : start + BATCH]
        fetched = client.fetch(batch, ["BODY.PEEK[]"])
        for uid in batch:
            raw = fetched.get(uid, {}).get(b"BODY[]")
            if not isinstance(raw, bytes):
                log.warning(
                    "department %s: message UID %s vanished before it was read",
                    mailbox.department,
                    uid,
                )
                _save_cursor(app, mailbox.department_id, folder, uidvalidity, uid)
                continue
            received = receive_email(
                app,
                raw,
                envelope_to=[mailbox.address] if mailbox.address else (),
                source=f"imap:{mailbox.department}",
            )
            if received.kind == "no_channel":
                return counts  # configuration, not the message: read it again later
            client.add_flags([uid], [b"\\Seen"] if received.ok else [b"\\Flagged"])
            _save_cursor(app, mailbox.department_id, folder, uidvalidity, uid)
            counts[received.kind] += 1
    return counts


class ImapWatcher:
    """One thread per department mailbox: poll, then IDLE (or wait ``interval``), again;
    reconnects after a failure with a growing pause."""

    def __init__(self, app: App, mailbox: Mailbox, interval: float = 60.0) -> None:
        self.app = app
        self.mailbox = mailbox
        self.interval = interval
        self.stop_event = threading.Event()
        self.polls = 0
        self.thread = threading.Thread(
            target=self._run, name=f"imap-{mailbox.department}", daemon=True
        )

    def start(self) -> ImapWatcher:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(timeout=15)

    def _wait_for_news(self, client: IMAPClient) -> None:
        """Until the server says something changed, ``interval`` passed, or we stop."""
        deadline = time.monotonic() + self.interval
        if b"IDLE" not in client.capabilities():
            self.stop_event.wait(self.interval)
            return
        client.idle()
        try:
            renew = time.monotonic() + IDLE_RENEW
            while not self.stop_event.is_set() and time.monotonic() < min(deadline, renew):
                if client.idle_check(timeout=1):
                    break
        finally:
            client.idle_done()

    def _run(self) -> None:
        pause = 1.0
        while not self.stop_event.is_set():
            where = mask_imap_url(self.mailbox.url)
            try:
                client = self.mailbox.target.connect()
            except Exception as exc:  # noqa: BLE001 - any failure: log, wait, reconnect
                log.warning(
                    "IMAP %s (%s): %s: %s", self.mailbox.department, where, type(exc).__name__, exc
                )
                self.stop_event.wait(pause)
                pause = min(pause * 2, 300.0)
                continue
            try:
                while not self.stop_event.is_set():
                    counts = poll_mailbox(self.app, self.mailbox, client)
                    self.polls += 1
                    if counts:
                        log.info("IMAP %s: %s", self.mailbox.department, dict(counts))
                    pause = 1.0
                    self._wait_for_news(client)
            except Exception as exc:  # noqa: BLE001
                log.warning(
                    "IMAP %s (%s): %s: %s", self.mailbox.department, where, type(exc).__name__, exc
                )
                self.stop_event.wait(pause)
                pause = min(pause * 2, 300.0)
            finally:
                with contextlib.suppress(Exception):  # the connection may be gone already
                    client.logout()


class ImapSupervisor:
    """Keeps one :class:`ImapWatcher` per department mailbox with an IMAP URL; every
    ``interval`` it looks again, so a mailbox added or changed in the settings is picked
    up without a restart (and one removed is no longer read)."""

    def __init__(self, app: App, interval: float = 60.0) -> None:
        self.app = app
        self.interval = interval
        self.watchers: dict[int, ImapWatcher] = {}
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, name="imap-supervisor", daemon=True)

    def refresh(self) -> None:
        wanted = {m.department_id: m for m in imap_mailboxes(self.app)}
        for dept_id, watcher in list(self.watchers.items()):
            if wanted.get(dept_id) != watcher.mailbox:
                watcher.stop()
                del self.watchers[dept_id]
        for dept_id, mailbox in wanted.items():
            if dept_id not in self.watchers:
                log.info("IMAP %s: reading %s", mailbox.department, mask_imap_url(mailbox.url))
                self.watchers[dept_id] = ImapWatcher(self.app, mailbox, self.interval).start()

    def _run(self) -> None:
        while not self.stop_event.is_set():
            try:
                self.refresh()
            except Exception:  # noqa: BLE001 - the database may be away for a moment
                log.exception("IMAP: could not read the department mailboxes")
            self.stop_event.wait(self.interval)

    def start(self) -> ImapSupervisor:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(timeout=15)
        for watcher in self.watchers.values():
            watcher.stop_event.set()
        for watcher in self.watchers.values():
            watcher.stop()
        self.watchers.clear()
