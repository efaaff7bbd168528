"""The receiver's fixed pipeline over real HTTP: 404 unknown, 413 too large, 401 unverified."""

import httpx
import pytest

from hde_core.entrypoints.http import build_http_app
from hde_core.sandbox.server import HttpServer
from hde_core.sandbox.smtp_sink import free_port
from tests.services.helpers import provision_email


@pytest.fixture
def server(app, tmp_path):
    provision_email(app, tmp_path, "smtp://127.0.0.1:2525")
    srv = HttpServer(build_http_app(app), "127.0.0.1", free_port()).start()
    yield srv
    srv.stop()


def test_unknown_channel_is_404(server):
    assert httpx.post(f"{server.url}/webhooks/nope", json={}).status_code == 404


def test_unverifiable_webhook_is_401(server):
    # the email channel has no webhook scheme: nothing can pass verification
    assert httpx.post(f"{server.url}/webhooks/email", json={"a": 1}).status_code == 401


def test_body_over_the_limit_is_413(server):
    assert (
        httpx.post(f"{server.url}/webhooks/email", content=b"x" * (1024 * 1024 + 1)).status_code
        == 413
    )


def test_get_without_handshake_is_405(server):
    assert httpx.get(f"{server.url}/webhooks/email").status_code == 405
