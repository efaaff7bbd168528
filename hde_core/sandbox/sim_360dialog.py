"""Simulator of 360dialog's Cloud API gateway (mounted at ``/sim/360dialog``).

Serves what :mod:`hde_core.channels.dialog360` calls:

- ``POST /messages`` with ``D360-API-KEY`` (Meta's bodies and answers, passed through);
- ``GET /v1/configs/templates`` (``limit``/``offset`` paging, ``total``; statuses in
  lower case, PENDING spelled ``submitted``, as 360dialog lists them);
- ``POST /v1/configs/webhook`` ``{"url": …, "headers"?: {…}}`` (and ``GET`` to read it
  back); the custom headers are sent with every webhook.

A key starting with ``invalid`` gets 401 "Invalid api_key"; the rate-limit fault is
360dialog's own 400 "You have exceeded the endpoint rate limit". Webhooks carry no
signature (360dialog does not sign them for clients): our URL carries its token.
"""

from __future__ import annotations

import hashlib
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from hde_core.config import Settings
from hde_core.sandbox.sim_common import Fault
from hde_core.sandbox.sim_wa_common import WaSimulator

#: Meta's upper-case statuses as 360dialog's listing spells them.
D360_STATUS = {"PENDING": "submitted"}


def d360_error(status: int, message: str) -> JSONResponse:
    return JSONResponse(
        {"meta": {"success": False, "http_code": status, "developer_message": message}},
        status_code=status,
    )


#: Error codes of the legacy (On-Premise) API that 360dialog still reports.
LEGACY_ERRORS = {
    470: "Message failed to send because more than 24 hours have passed",
    1013: "User is not valid",
}


def api_key(request: Request) -> str | None:
    key = request.headers.get("d360-api-key", "").strip()
    return key if key and not key.lower().startswith("invalid") else None


class Dialog360Simulator(WaSimulator):
    name = "360dialog"

    def metadata(self, account: str) -> dict[str, str]:
        number_id = "1" + hashlib.sha256(account.encode()).hexdigest()[:14].translate(
            str.maketrans("abcdef", "123456")
        )
        return {"display_phone_number": self.display_phone_number, "phone_number_id": number_id}

    def fault_response(self, fault: Fault) -> Response:
        if fault == "rate_limit":
            return d360_error(400, "You have exceeded the endpoint rate limit")
        return d360_error(502, "WhatsApp for Business API not available")

    def error_response(self, code: int | str, text: str | None = None) -> Response:
        """Graph errors pass through; the legacy On-Premise codes come as ``errors[]``."""
        if code in LEGACY_ERRORS:
            title = LEGACY_ERRORS[int(code)]
            return JSONResponse(
                {
                    "meta": {"api_status": "stable", "version": "2.0"},
                    "errors": [{"code": code, "title": title, "details": text or title}],
                },
                status_code=400,
            )
        return super().error_response(code, text)

    def api_routes(self) -> list[BaseRoute]:
        async def messages(request: Request) -> Response:
            body = await self.record(request)
            key = api_key(request)
            if key is None:
                return d360_error(401, "Invalid api_key")
            fault = await self.faults(key)
            if fault is not None:
                return fault
            self.ensure_life()
            return self.accept(key, body)

        async def templates(request: Request) -> Response:
            await self.record(request)
            key = api_key(request)
            if key is None:
                return d360_error(401, "Invalid api_key")
            fault = await self.faults(key)
            if fault is not None:
                return fault
            try:
                limit = int(request.query_params.get("limit") or 0) or None
                offset = max(0, int(request.query_params.get("offset") or 0))
            except ValueError:
                return d360_error(400, "limit and offset must be numbers")
            page = self.template_page(offset, limit)
            items = [
                {
                    **t,
                    "status": D360_STATUS.get(t["status"], t["status"].lower()),
                    "namespace": "sandbox_namespace",
                }
                for t in page
            ]
            return JSONResponse(
                {
                    "count": len(items),
                    "filters": {},
                    "limit": limit or self.config.template_page_size,
                    "offset": offset,
                    "sort": ["business_templates.name"],
                    "total": len(self.catalogue),
                    "waba_templates": items,
                }
            )

        async def webhook(request: Request) -> Response:
            data: Any = await self.record(request)
            key = api_key(request)
            if key is None:
                return d360_error(401, "Invalid api_key")
            if request.method == "GET":
                target = self.targets.get(key)
                return JSONResponse(
                    {
                        "url": target.url if target else "",
                        "headers": self.target_headers.get(key, {}),
                    }
                )
            url = data.get("url") if isinstance(data, dict) else None
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                return d360_error(400, "url must be an http(s) URL")
            headers = data.get("headers") if isinstance(data, dict) else None
            if headers is not None and not (
                isinstance(headers, dict)
                and all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items())
            ):
                return d360_error(400, "headers must be an object of strings")
            self.set_target(key, url, extra_headers=headers or {})
            self.ensure_life()
            return JSONResponse({"url": url})

        return [
            Route("/messages", messages, methods=["POST"]),
            Route("/v1/configs/templates", templates, methods=["GET"]),
            Route("/v1/configs/webhook", webhook, methods=["GET", "POST"]),
        ]


def create_360dialog_simulator(settings: Settings) -> Any:
    return Dialog360Simulator().asgi()
