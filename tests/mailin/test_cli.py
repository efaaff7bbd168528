"""`hde mail-in` as a user runs it: one process taking SMTP and reading an IMAP mailbox."""

from __future__ import annotations

import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from imapclient import IMAPClient
from sqlalchemy import select

from hde_core.db.models import InboundMessage
from hde_core.db.session import Database
from tests.mailin import mails
from tests.mailin.dovecot import start_dovecot, stop_dovecot

PROVISION = """
[[departments]]
name = "First line"
mailbox = "support@company.com"
imap_url = "{imap}"

[[channels]]
name = "email"
kind = "email"
department = "First line"
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("hde mail-in did not listen")


def test_hde_mail_in_takes_smtp_and_reads_the_imap_mailbox(
    cli_env: dict[str, str], sqlite_url: str, tmp_path: Path
) -> None:
    root = Path(tempfile.mkdtemp(prefix="hde-dovecot-"))
    dovecot, dproc = start_dovecot(root)
    proc = None
    try:
        conf = tmp_path / "provision.toml"
        conf.write_text(PROVISION.format(imap=dovecot.url()), encoding="utf-8")
        done = subprocess.run(
            [sys.executable, "-m", "hde_core", "provision", str(conf)],
            env=cli_env,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "hde_core", "mail-in", "--port", str(port), "--interval", "2"],
            env=cli_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        wait_for_port(port, proc)
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            client.sendmail(
                "anna@client.example", ["support@company.com"], mails.reply(text="По почте.")
            )
        with IMAPClient(dovecot.host, port=dovecot.port, ssl=False) as imap:
            imap.login(dovecot.login, dovecot.password)
            imap.append("INBOX", mails.reply(text="Из ящика."))
        db = Database(sqlite_url)
        try:
            deadline = time.monotonic() + 30
            texts: set[str] = set()
            while time.monotonic() < deadline and len(texts) < 2:
                with db.reader() as s:
                    texts = set(s.scalars(select(InboundMessage.text)))
                time.sleep(0.2)
        finally:
            db.dispose()
        assert texts == {"По почте.", "Из ящика."}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
        stop_dovecot(dproc)
        shutil.rmtree(root, ignore_errors=True)


pytestmark = pytest.mark.process
