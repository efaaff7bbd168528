"""Browser tests: the real console (``streamlit run console.py``) driven by Playwright in the
Debian ``chromium``. Mandatory under CI=true (fail, never skip); elsewhere they skip
with a message saying what is missing."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hde_core.bootstrap import bootstrap
from hde_core.sandbox.smtp_sink import free_port
from hde_core.services.authz import SYSTEM
from hde_core.services.users import add_user
from tests.conftest import CI, TEST_SECRET, make_settings

ROOT = Path(__file__).resolve().parents[2]
#: `make screenshots` sets this to docs/screenshots (the README shows them); otherwise the
#: screenshots go to a temporary folder so that a test run leaves the tree clean.
SCREENSHOTS = Path(
    os.environ.get("HDE_SCREENSHOTS_DIR") or Path(tempfile.gettempdir()) / "hde-screenshots"
)
PASSWORD = "correct-horse-42"


def _chromium() -> str:
    path = (
        os.environ.get("HDE_CHROMIUM")
        or shutil.which("chromium")
        or shutil.which("chromium-browser")
    )
    if path:
        return path
    message = (
        "Chromium not installed: `apt-get install chromium` (Debian package) to run browser tests"
    )
    if CI:
        pytest.fail(message + " — mandatory under CI=true")
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """One Chromium per test module (module scope: Playwright's sync API keeps an event loop
    running in this thread while it is open)."""
    path = _chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        message = "Playwright not installed (requirements-dev.txt)"
        if CI:
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, headless=True, args=["--no-sandbox"])
        yield b
        b.close()


class Console:
    """A running console process with its own database and users."""

    def __init__(self, url: str, app: object, data_dir: Path) -> None:
        self.url = url
        self.app = app
        self.data_dir = data_dir


@pytest.fixture
def console(sqlite_url: str, data_dir: Path) -> Iterator[Console]:
    app = bootstrap(make_settings(sqlite_url, data_dir))
    for role in ("admin", "team_lead", "agent", "viewer"):
        add_user(app, role, role, PASSWORD, SYSTEM, display_name=f"{role.title()} User")
    port = free_port()
    env = {
        **os.environ,
        "HDE_DATABASE_URL": sqlite_url,
        "HDE_SECRET_KEY": TEST_SECRET,
        "HDE_DATA_DIR": str(data_dir),
        "HDE_LANG": "ru",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(ROOT / "console.py"),  # the pages and the session cookie routes
            "--server.port",
            str(port),
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/_stcore/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail(
            "the console did not start: " + (proc.stderr.read().decode() if proc.stderr else "")
        )
    yield Console(url, app, data_dir)
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    app.close()  # type: ignore[attr-defined]


@pytest.fixture
def page(browser, console):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1400, "height": 1800}, locale="ru-RU")
    pg = context.new_page()
    errors: list[str] = []
    pg.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.console_errors = errors  # type: ignore[attr-defined]
    yield pg
    context.close()


def sign_in(page, console: Console, login: str) -> None:  # type: ignore[no-untyped-def]
    """Sign in as ``login``. A tab of a browser that is signed in already (the session
    cookie, issue 16.1) is used as it is when it is that user's, else signed out first."""
    page.goto(console.url)
    form, signed_in = page.get_by_label("Логин"), page.get_by_text("Вы вошли как")
    form.or_(signed_in).first.wait_for(timeout=30_000)
    if signed_in.count():
        if f"Вы вошли как {login.title()} User" in signed_in.first.inner_text():
            return
        page.get_by_role("button", name="Выйти").click()
        form.wait_for(timeout=30_000)
    page.get_by_label("Логин").fill(login)
    page.get_by_label("Пароль").fill(PASSWORD)
    page.get_by_role("button", name="Войти").click()
    page.get_by_text("Вы вошли как").wait_for(timeout=20_000)


def settled(page, timeout_ms: int = 15_000) -> None:  # type: ignore[no-untyped-def]
    """Wait until Streamlit has finished running the script (its "running" widget is gone)."""
    page.wait_for_timeout(300)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden", timeout=timeout_ms)


def shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    settled(page)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


@pytest.fixture
def demo_console(sqlite_url: str, data_dir: Path, tmp_path: Path) -> Iterator[Console]:
    """The whole product as ``make run`` starts it (``hde demo``: console, dispatcher,
    webhook receiver with the provider simulators, SMTP sink) on free ports and a test
    database. The simulated clients stay quiet (no chatter, no replies, no failures) so
    that what a test sees follows from what it does."""
    app = bootstrap(make_settings(sqlite_url, data_dir))
    for role in ("admin", "team_lead", "agent", "viewer"):
        add_user(app, role, role, PASSWORD, SYSTEM, display_name=f"{role.title()} User")
    console_port, services_port, smtp_port = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "HDE_DATABASE_URL": sqlite_url,
        "HDE_SECRET_KEY": TEST_SECRET,
        "HDE_DATA_DIR": str(data_dir),
        "HDE_LANG": "ru",
        "HDE_CONSOLE_PORT": str(console_port),
        "HDE_SERVICES_PORT": str(services_port),
        "HDE_SMTP_SINK_PORT": str(smtp_port),
        "HDE_MAIL_IN_PORT": str(free_port()),
        "HDE_PUBLIC_URL": f"http://127.0.0.1:{services_port}",
        "HDE_SIM_CHATTER_INTERVAL_S": "0",
        "HDE_SIM_REPLY_PROBABILITY": "0",
        "HDE_SIM_OPT_OUT_PROBABILITY": "0",
        "HDE_SIM_FAILED_STATUS_RATE": "0",
    }
    log_path = tmp_path / "demo.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "hde_core", "demo"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its console child is stopped with it
        )
    url = f"http://127.0.0.1:{console_port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"{url}/_stcore/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    else:
        _stop_group(proc)
        pytest.fail("`hde demo` did not start:\n" + log_path.read_text(errors="replace")[-3000:])
    yield Console(url, app, data_dir)
    _stop_group(proc)
    app.close()  # type: ignore[attr-defined]


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM: the demo stops its console and services; SIGKILL to the group if it hangs."""
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


@pytest.fixture
def demo_page(browser, demo_console):  # type: ignore[no-untyped-def]
    """A browser tab on the demo's console (downloads allowed)."""
    context = browser.new_context(
        viewport={"width": 1400, "height": 1800}, locale="ru-RU", accept_downloads=True
    )
    pg = context.new_page()
    errors: list[str] = []
    pg.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.console_errors = errors  # type: ignore[attr-defined]
    yield pg
    context.close()
