"""The provider simulators' routes and a background HTTP server to run them in.

``/sim/<provider>/…`` are the simulators (registered in :data:`SIMULATORS`), each
speaking its provider's documented protocol, so a sandbox channel's ``api_base`` is e.g.
``http://127.0.0.1:8787/sim/telegram``. The sandbox imports no entrypoint: the face
(:mod:`hde_core.entrypoints.http`) puts the webhook receiver beside these routes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import uvicorn
from starlette.routing import Mount

from hde_core.config import Settings
from hde_core.sandbox import sim_360dialog, sim_greenapi, sim_meta, sim_telegram, sim_viber

log = logging.getLogger("hde.sandbox")

#: Simulator factories by mount name: ``factory(settings) -> ASGI app``.
SIMULATORS: dict[str, Callable[[Settings], Any]] = {
    "meta": sim_meta.create_meta_simulator,
    "360dialog": sim_360dialog.create_360dialog_simulator,
    "telegram": sim_telegram.create_app,
    "viber": sim_viber.create_app,
    "greenapi": sim_greenapi.create_app,
}


def simulator_routes(settings: Settings) -> list[Mount]:
    """Every simulator, mounted under ``/sim/<name>``."""
    return [Mount(f"/sim/{name}", app=factory(settings)) for name, factory in SIMULATORS.items()]


class HttpServer:
    """uvicorn in a background thread (the demo, and end-to-end tests)."""

    def __init__(self, asgi: Any, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.server = uvicorn.Server(
            uvicorn.Config(asgi, host=host, port=port, log_level="warning", lifespan="on")
        )
        self.thread = threading.Thread(target=self.server.run, name=f"http-{port}", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> HttpServer:
        self.thread.start()
        for _ in range(200):
            if self.server.started:
                return self
            if not self.thread.is_alive():
                raise RuntimeError(f"HTTP server on port {self.port} did not start")
            threading.Event().wait(0.025)
        raise RuntimeError(f"HTTP server on port {self.port} did not start in time")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
