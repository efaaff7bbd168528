"""Simulator of Meta's WhatsApp Cloud API (mounted at ``/sim/meta``).

Serves what :mod:`hde_core.channels.meta_cloud` calls, with Graph's shapes:

- ``POST /{version}/{phone_number_id}/messages`` (Bearer token; text and template
  bodies checked as the Cloud API documents; 24-hour window enforced);
- ``GET /{version}/{waba_id}/message_templates`` (cursor paging: ``limit``, ``after``,
  ``paging.cursors``, ``paging.next`` while more pages exist);
- ``GET /{version}/{phone_number_id}`` (the phone-number endpoint: verified name,
  display number, quality rating).

Tokens starting with ``invalid`` or ``expired`` are refused with 190. Webhooks are
signed with the app secret (``X-Hub-Signature-256``) and go to the URL set by
``POST /_control/webhook {"account": <phone_number_id>, "url": …, "app_secret": …}``
(Meta takes it from the app dashboard, so there is no API call for it).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from hde_core.config import Settings
from hde_core.sandbox.sim_common import Fault
from hde_core.sandbox.sim_wa_common import WaSimulator
from hde_core.sandbox.sim_wa_data import _cursor, _offset, graph_error


def token_ok(request: Request) -> bool:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    return (
        scheme.lower() == "bearer"
        and bool(token)
        and not token.lower().startswith(("invalid", "expired"))
    )


class MetaSimulator(WaSimulator):
    name = "meta"

    def fault_response(self, fault: Fault) -> Response:
        return graph_error(130429 if fault == "rate_limit" else 2)

    def api_routes(self) -> list[BaseRoute]:
        async def messages(request: Request) -> Response:
            body = await self.record(request)
            if not token_ok(request):
                return graph_error(190)
            account = request.path_params["phone_number_id"]
            fault = await self.faults(account)
            if fault is not None:
                return fault
            self.ensure_life()
            return self.accept(account, body)

        async def templates(request: Request) -> Response:
            await self.record(request)
            if not token_ok(request):
                return graph_error(190)
            fault = await self.faults(request.path_params["waba_id"])
            if fault is not None:
                return fault
            try:
                limit = int(request.query_params.get("limit") or 0) or None
            except ValueError:
                return graph_error(100, "limit must be a number")
            offset = _offset(request.query_params.get("after"))
            page = self.template_page(offset, limit)
            fields = request.query_params.get("fields")
            if fields:
                wanted = {f.strip() for f in fields.split(",")}
                page = [{k: v for k, v in t.items() if k in wanted or k == "id"} for t in page]
            body: dict[str, Any] = {"data": page}
            if page:
                end = offset + len(page)
                body["paging"] = {"cursors": {"before": _cursor(offset), "after": _cursor(end)}}
                if end < len(self.catalogue):
                    body["paging"]["next"] = str(
                        request.url.include_query_params(after=_cursor(end))
                    )
            return JSONResponse(body)

        async def phone_number(request: Request) -> Response:
            await self.record(request)
            if not token_ok(request):
                return graph_error(190)
            fault = await self.faults(request.path_params["phone_number_id"])
            if fault is not None:
                return fault
            return JSONResponse(
                {
                    "verified_name": "HDE Sandbox",
                    "display_phone_number": "+1 555-010-0001",
                    "quality_rating": "GREEN",
                    "id": request.path_params["phone_number_id"],
                }
            )

        return [
            Route("/{version}/{phone_number_id}/messages", messages, methods=["POST"]),
            Route("/{version}/{waba_id}/message_templates", templates, methods=["GET"]),
            Route("/{version}/{phone_number_id}", phone_number, methods=["GET"]),
        ]


def create_meta_simulator(settings: Settings) -> Any:
    return MetaSimulator().asgi()
