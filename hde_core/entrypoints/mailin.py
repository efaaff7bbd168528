"""``hde mail-in``: receive client replies, auto-replies and bounces by email.

Listens for SMTP (or LMTP with ``--lmtp``) on ``HDE_MAIL_IN_PORT`` for the MX to
forward department mail to, and reads every department mailbox that has an IMAP
URL (IDLE where offered; ``--no-imap`` turns that off, ``--no-listen`` the
listener). See :mod:`hde_core.mailin`.
"""

from __future__ import annotations

import logging
import signal
import threading

import click

from hde_core.bootstrap import bootstrap, configure_logging
from hde_core.config import load_settings
from hde_core.mailin.imap import ImapSupervisor
from hde_core.mailin.server import MailInServer
from hde_core.services.credentials import require_readable

log = logging.getLogger("hde.mailin")


@click.command("mail-in")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=None, help="Default: HDE_MAIL_IN_PORT (2526).")
@click.option("--lmtp", is_flag=True, help="Speak LMTP instead of SMTP (for a local MTA).")
@click.option("--listen/--no-listen", default=True, help="Run the SMTP/LMTP listener.")
@click.option("--imap/--no-imap", default=True, help="Read department mailboxes over IMAP.")
@click.option(
    "--interval",
    type=click.FloatRange(min=1),
    default=60.0,
    show_default=True,
    help="Seconds between IMAP polls where the server has no IDLE.",
)
def mail_in(
    host: str, port: int | None, lmtp: bool, listen: bool, imap: bool, interval: float
) -> None:
    """Receive email replies, auto-replies and bounces (SMTP/LMTP, IMAP mailboxes)."""
    configure_logging()
    settings = load_settings()
    app = bootstrap(settings)
    stop = threading.Event()
    try:
        require_readable(app)
        server = MailInServer(app, host, port or settings.mail_in_port, lmtp=lmtp)
        supervisor = ImapSupervisor(app, interval)
        if listen:
            server.start()
            click.echo(f"hde mail-in: {server.url}")
        if imap:
            supervisor.start()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            while not stop.is_set():
                stop.wait(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            if imap:
                supervisor.stop()
            if listen:
                server.stop()
    finally:
        app.close()


def register(cli: click.Group) -> None:
    cli.add_command(mail_in)
