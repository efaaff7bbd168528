"""One HTTP server for the embedded default: the webhook receiver plus the provider simulators.

``/webhooks/<channel>`` is the receiver; ``/sim/<provider>/…`` are the simulators. Both are
composed here, at the face level, so that the sandbox never imports an entrypoint.
"""

from __future__ import annotations

import logging

from starlette.applications import Starlette
from starlette.routing import BaseRoute

from hde_core.bootstrap import App
from hde_core.config import Settings
from hde_core.entrypoints.webhooks import webhook_routes
from hde_core.sandbox.server import HttpServer, simulator_routes

log = logging.getLogger("hde.sandbox")


def build_http_app(app: App, with_simulators: bool = True) -> Starlette:
    routes: list[BaseRoute] = list(webhook_routes(app))
    if with_simulators:
        routes += simulator_routes(app.settings)
    return Starlette(routes=routes)


class HttpServicesService:
    """Demo service: receiver + simulators on HDE_SERVICES_HOST:HDE_SERVICES_PORT."""

    name = "http"

    def __init__(self, app: App, settings: Settings) -> None:
        self.server = HttpServer(
            build_http_app(app), settings.services_host, settings.services_port
        )

    def start(self) -> None:
        self.server.start()
        log.info("webhook receiver and simulators on %s", self.server.url)

    def stop(self) -> None:
        self.server.stop()
