"""``hde demo`` (what ``make run`` starts): the whole product in one process on SQLite.

Migrates, provisions the sandbox demo idempotently, then runs the background
services (SMTP sink, and whatever else is listed in :data:`SERVICES`) in
threads of this process and the console (Streamlit) as a child process, until
Ctrl+C.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import click

from hde_core.bootstrap import App, bootstrap, configure_logging
from hde_core.config import PROJECT_ROOT, Settings, load_settings
from hde_core.db.migrate import upgrade
from hde_core.db.session import Database
from hde_core.dispatch.service import DispatcherService
from hde_core.entrypoints.http import HttpServicesService
from hde_core.i18n import t
from hde_core.mailin.server import MailInServer
from hde_core.sandbox.email_clients import EmailClients
from hde_core.sandbox.messenger_demo import MessengerDemoService
from hde_core.sandbox.smtp_sink import MailSummary, SmtpSink, mail_dir
from hde_core.sandbox.wa_demo import WaBusinessDemoService
from hde_core.services.authz import DEMO
from hde_core.services.provision import provision
from hde_core.services.users import has_active_admin

log = logging.getLogger("hde.demo")

DEMO_FILE = PROJECT_ROOT / "examples" / "sandbox.toml"


class Service(Protocol):
    name: str

    def start(self) -> None: ...

    def stop(self) -> None: ...


class SmtpSinkService:
    """The sink, and one summary line a minute at most instead of its per-mail log."""

    name = "smtp-sink"

    def __init__(self, app: App, settings: Settings) -> None:
        self.sink = SmtpSink(mail_dir(settings.data_dir), "127.0.0.1", settings.smtp_sink_port)
        self.summary = MailSummary()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._report, name="smtp-sink-summary", daemon=True)

    def start(self) -> None:
        self.sink.start()
        self.thread.start()
        log.info("sandbox SMTP sink on %s", self.sink.url)

    def _report(self) -> None:
        while not self.stopping.wait(5.0):
            line = self.summary.line(self.sink.handler.received, time.monotonic())
            if line:
                log.info(line)

    def stop(self) -> None:
        self.stopping.set()
        self.sink.stop()


class MailInService:
    """``hde mail-in``'s SMTP listener: client replies, auto-replies and bounces come back."""

    name = "mail-in"

    def __init__(self, app: App, settings: Settings) -> None:
        self.server = MailInServer(app, "127.0.0.1", settings.mail_in_port)

    def start(self) -> None:
        self.server.start()
        log.info("mail-in (replies by email) on %s", self.server.url)

    def stop(self) -> None:
        self.server.stop()


class EmailClientsService:
    """Simulated email clients: some answer our first emails through mail-in."""

    name = "sandbox-email-clients"

    def __init__(self, app: App, settings: Settings) -> None:
        delay = float(os.environ.get("HDE_SIM_EMAIL_REPLY_DELAY_S", "8"))
        probability = float(os.environ.get("HDE_SIM_REPLY_PROBABILITY", str(1 / 3)))
        self.clients = EmailClients(
            mail_dir(settings.data_dir), settings.mail_in_port, delay=delay, probability=probability
        )

    def start(self) -> None:
        self.clients.start()

    def stop(self) -> None:
        self.clients.stop()


#: Background services of the demo, started in this order (stopped in reverse).
SERVICES: list[Callable[[App, Settings], Service]] = [
    SmtpSinkService,
    MailInService,
    EmailClientsService,
    HttpServicesService,
    WaBusinessDemoService,  # after the HTTP server: it talks to the WhatsApp simulators
    MessengerDemoService,  # Telegram, Viber, Green-API: webhooks, living simulated clients
    DispatcherService,  # last: sends what the console queues, through everything above
]


def prepare(settings: Settings, demo_file: Path = DEMO_FILE) -> App:
    """Migrate and provision the sandbox (both idempotent)."""
    db = Database(settings.resolved_database_url)
    try:
        upgrade(db)
    finally:
        db.dispose()
    app = bootstrap(settings)
    # examples/sandbox.toml points at the local services through these, so that the demo
    # (and the browser tests) can run on any ports.
    os.environ["HDE_SMTP_SINK_PORT"] = str(settings.smtp_sink_port)
    os.environ["HDE_SERVICES_URL"] = f"http://{settings.services_host}:{settings.services_port}"
    report = provision(app, demo_file, actor=DEMO)
    log.info("sandbox provisioned: %d change(s)", report.changed)
    return app


def start_console(settings: Settings) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(PROJECT_ROOT / "console.py"),  # app.py + the session cookie routes
        "--server.port",
        str(settings.console_port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--server.maxUploadSize",  # the bulk wizard's lists (HDE_UPLOAD_LIMIT_MB)
        str(settings.upload_limit_mb),
    ]
    return subprocess.Popen(cmd, cwd=PROJECT_ROOT, env=os.environ.copy())


@click.command("demo")
@click.option("--no-console", is_flag=True, help="Run the background services only.")
def demo(no_console: bool) -> None:
    """Run the sandbox demo: console, dispatcher, webhooks, simulators, SMTP sink, mail-in."""
    configure_logging()
    settings = load_settings()
    app = prepare(settings)
    started: list[Service] = []
    stop = threading.Event()
    console: subprocess.Popen[bytes] | None = None
    try:
        for factory in SERVICES:
            service = factory(app, settings)
            service.start()
            started.append(service)
        console = None if no_console else start_console(settings)
        click.echo(f"\n  HDE Outreach console: http://localhost:{settings.console_port}\n")
        if not has_active_admin(app):
            click.echo(t("demo.first_run") + "\n")
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        while not stop.is_set():
            if console is not None and console.poll() is not None:
                break
            stop.wait(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        if console is not None and console.poll() is None:
            console.terminate()
            try:
                console.wait(10)
            except subprocess.TimeoutExpired:
                console.kill()
        for service in reversed(started):
            try:
                service.stop()
            except Exception:  # noqa: BLE001 - keep stopping the others
                log.exception("stopping %s failed", service.name)
        app.close()


def register(cli: click.Group) -> None:
    cli.add_command(demo)
