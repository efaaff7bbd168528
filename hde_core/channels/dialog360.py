"""360dialog: a BSP that passes Meta's Cloud API through (``https://waba-v2.360dialog.io``).

Message bodies, answers and webhooks are Meta's own shapes (see ``wa_common``);
what differs is the auth header (``D360-API-KEY: <api key>``, one key per number),
the endpoints (``POST /messages``, ``GET /v1/configs/templates`` with lower-case
statuses, ``POST /v1/configs/webhook``) and 360dialog's own errors (401 invalid key,
400 endpoint rate limit or account disabled, 403 blocked, 502 upstream down).

Webhook authentication: 360dialog does not sign Cloud API webhooks with a secret a
client holds (its HMAC ``x-360dialog-signature`` uses the *partner* platform secret),
so we protect the URL instead. :meth:`register_webhook` registers
``<receiver>/webhooks/<channel>?token=<webhook secret>`` and the receiver accepts
a webhook only when that token — in the ``token`` query parameter, or in an
``X-HDE-Webhook-Token`` header for setups that can add headers — matches the
channel's webhook secret (constant-time). Without a webhook secret every webhook
is refused. Credentials: ``api_key``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from hde_core.channels.base import (
    HttpCall,
    TemplateInfo,
    WebhookRequest,
    constant_time_equals,
    retry_after_header,
)
from hde_core.channels.wa_common import (
    ErrorRule,
    ProviderCallFailed,
    WaBusinessAdapter,
    classify_response,
    outcome_for,
    template_info,
)
from hde_core.domain.channels import Provider
from hde_core.domain.outcomes import ConnectionCheck, ErrorClass, Retry, SendOutcome
from hde_core.errors import HdeError

TOKEN_PARAM = "token"
TOKEN_HEADER = "x-hde-webhook-token"
MAX_TEMPLATE_PAGES = 200

#: 360dialog's own answers (no Graph error code), matched on their words, first match wins.
D360_TEXT_RULES: tuple[tuple[str, ErrorRule], ...] = (
    ("rate limit", ErrorRule(ErrorClass.RATE_LIMITED, pause=5.0)),
    ("invalid api_key", ErrorRule(ErrorClass.AUTH)),
    ("api key", ErrorRule(ErrorClass.AUTH)),
    ("disabled", ErrorRule(ErrorClass.AUTH)),
    ("payment", ErrorRule(ErrorClass.AUTH)),
    ("blocked", ErrorRule(ErrorClass.AUTH)),
    ("not available", ErrorRule(ErrorClass.TRANSIENT)),
)


def d360_error_text(body: Any) -> str | None:
    """The words of a 360dialog (non-Graph) error body, if it is one."""
    if not isinstance(body, Mapping):
        return None
    meta = body.get("meta")
    if isinstance(meta, Mapping) and (meta.get("developer_message") or meta.get("message")):
        return str(meta.get("developer_message") or meta.get("message"))
    errors = body.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], Mapping):
        e = errors[0]
        return " ".join(str(e.get(k) or "") for k in ("title", "details")).strip() or None
    if isinstance(body.get("error"), str):
        return str(body["error"])
    return None


def classify_d360(response: httpx.Response, body: Any) -> SendOutcome:
    """Graph errors passed through keep Meta's table; 360dialog's own go by their words."""
    if isinstance(body, Mapping) and isinstance(body.get("error"), Mapping):
        return classify_response(response, body)
    text = d360_error_text(body)
    if text:
        lowered = text.lower()
        for words, rule in D360_TEXT_RULES:
            if words in lowered:
                code = f"http_{response.status_code}"
                return outcome_for(rule, code, text, raw=body, after=retry_after_header(response))
    return classify_response(response, body)


def with_token(url: str, token: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != TOKEN_PARAM]
    query.append((TOKEN_PARAM, token))
    return urlunsplit(parts._replace(query=urlencode(query)))


class Dialog360Adapter(WaBusinessAdapter):
    provider: ClassVar[Provider] = Provider.DIALOG360
    default_api_base: ClassVar[str] = "https://waba-v2.360dialog.io"
    supports_webhook_registration: ClassVar[bool] = True

    def messages_url(self) -> str:
        return f"{self.api_base}/messages"

    def auth_headers(self) -> dict[str, str]:
        return {"D360-API-KEY": self.config.credential("api_key")}

    def classify(self, response: httpx.Response, body: Any) -> SendOutcome:
        return classify_d360(response, body)

    async def list_templates(self) -> list[TemplateInfo]:
        """All templates, page by page (``limit``/``offset``); statuses come lower case."""
        url = f"{self.api_base}/v1/configs/templates"
        limit = int(self.config.settings.get("templates_page_size") or 100)
        found: dict[tuple[str, str], TemplateInfo] = {}
        offset = 0
        for _ in range(MAX_TEMPLATE_PAGES):
            body = await self.get_json(url, {"limit": limit, "offset": offset})
            page = [template_info(item) for item in body.get("waba_templates") or []]
            new = [t for t in page if (t.name, t.language) not in found]
            for t in new:
                found[(t.name, t.language)] = t
            offset += len(page)
            total = body.get("total")
            # Stop on an empty page, at the total, or when a server that ignores paging
            # sends the same page again. (A short page proves nothing: servers cap limit.)
            if not new or (isinstance(total, int) and offset >= total):
                break
        return list(found.values())

    async def check_connection(self) -> ConnectionCheck:
        try:
            body = await self.get_json(
                f"{self.api_base}/v1/configs/templates", {"limit": 1, "offset": 0}
            )
        except ProviderCallFailed as exc:
            return ConnectionCheck(False, exc.text)
        except HdeError as exc:  # a credential is missing
            return ConnectionCheck(False, exc.message())
        total = body.get("total")
        detail = "360dialog API key accepted" + (f" ({total} templates)" if total else "")
        return ConnectionCheck(True, detail)

    async def register_webhook(self, url: str) -> ConnectionCheck:
        secret = self.config.webhook_secret
        if not secret:
            return ConnectionCheck(
                False,
                "the channel has no webhook secret: set webhook_secret, it protects the "
                "webhook URL (360dialog does not sign webhooks)",
            )
        try:
            headers = {**self.auth_headers(), "Content-Type": "application/json"}
        except HdeError as exc:
            return ConnectionCheck(False, exc.message())
        call = HttpCall(
            "POST",
            f"{self.api_base}/v1/configs/webhook",
            json={"url": with_token(url, secret)},
            headers=headers,
        )
        outcome = await self.call(call)
        if isinstance(outcome, Retry):
            return ConnectionCheck(False, outcome.text)
        response, body = outcome
        if 200 <= response.status_code < 300:
            return ConnectionCheck(True, url)
        failed = classify_d360(response, body)
        return ConnectionCheck(False, getattr(failed, "text", f"HTTP {response.status_code}"))

    def verify_webhook(self, request: WebhookRequest) -> bool:
        secret = self.config.webhook_secret
        given = request.query.get(TOKEN_PARAM) or request.headers.get(TOKEN_HEADER)
        return bool(secret) and constant_time_equals(given, secret)
