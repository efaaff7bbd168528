"""360dialog: a BSP that passes Meta's Cloud API through (``https://waba-v2.360dialog.io``).

Message bodies, answers and webhooks are Meta's own shapes (see ``wa_common``);
what differs is the auth header (``D360-API-KEY: <api key>``, one key per number),
the endpoints (``POST /messages``, ``GET /v1/configs/templates`` with lower-case
statuses, ``POST /v1/configs/webhook``) and 360dialog's own errors (401 invalid key,
400 endpoint rate limit or account disabled, 403 blocked, 502 upstream down).

Webhook authentication: 360dialog does not sign Cloud API webhooks with a secret a
client holds (its HMAC ``x-360dialog-signature`` uses the *partner* platform secret),
so we protect the URL instead. :meth:`register_webhook` registers the URL with a
custom header, ``X-HDE-Webhook-Token: <webhook secret>`` (the webhook config's
``headers``), which 360dialog sends with every webhook; the secret stays out of
the URL, where proxies log it. Setting ``webhook_token_in_url`` registers
``…?token=<webhook secret>`` instead, for setups that cannot take the header. The
receiver accepts either, compared in constant time with the channel's webhook
secret; without a webhook secret every webhook is refused. Credentials: ``api_key``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from hde_core.channels.base import (
    HttpCall,
    TemplateInfo,
    WebhookRequest,
    constant_time_equals,
)
from hde_core.channels.errors import Classified, ErrorRule, ErrorTable, rows
from hde_core.channels.wa_common import ProviderCallFailed, WaBusinessAdapter, template_info
from hde_core.channels.wa_errors import META_ROWS, classify_graph, error_entry, graph_error
from hde_core.domain.channels import Provider
from hde_core.domain.outcomes import ConnectionCheck, ErrorClass, Retry, SendOutcome
from hde_core.errors import HdeError

TOKEN_PARAM = "token"
TOKEN_HEADER = "x-hde-webhook-token"
TOKEN_HEADER_NAME = "X-HDE-Webhook-Token"
MAX_TEMPLATE_PAGES = 200

#: Meta's table, plus 360dialog's own: the legacy (On-Premise) ``errors[]`` codes, which
#: also arrive in ``statuses[].errors[]``, and its plain answers without a Graph code,
#: matched on their words (``d360`` rows, first match wins).
D360_ERRORS = ErrorTable(
    rows(
        (470, ErrorRule(ErrorClass.WINDOW_CLOSED)),  # legacy: outside the 24-hour window
        (1013, ErrorRule(ErrorClass.NOT_REACHABLE)),  # legacy: user is not valid
        ("d360", "rate limit", ErrorRule(ErrorClass.RATE_LIMITED, pause=5.0)),
        ("d360", "invalid api_key", ErrorRule(ErrorClass.AUTH)),
        ("d360", "api key", ErrorRule(ErrorClass.AUTH)),
        ("d360", "disabled", ErrorRule(ErrorClass.AUTH)),
        ("d360", "payment", ErrorRule(ErrorClass.AUTH)),
        ("d360", "blocked", ErrorRule(ErrorClass.AUTH)),
        ("d360", "not available", ErrorRule(ErrorClass.TRANSIENT)),
    )
    + META_ROWS,
    retry_after=("header",),
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


def classify_d360(response: httpx.Response, body: Any) -> Classified:
    """Graph errors and legacy codes through the table; 360dialog's own by their words."""
    status = response.status_code
    if isinstance(body, Mapping) and isinstance(body.get("error"), Mapping):
        err = graph_error(body, status)
        return classify_graph(D360_ERRORS, err, status, response.headers, body)
    errors = body.get("errors") if isinstance(body, Mapping) else None
    if isinstance(errors, list) and errors and isinstance(errors[0], Mapping):
        err = error_entry(errors[0])
        if err.code is not None:
            return D360_ERRORS.classify(err.code, err.text, headers=response.headers, body=body)
    text = d360_error_text(body)
    if text:
        found = D360_ERRORS.classify("d360", text, headers=response.headers, body=body)
        if found.rule is not D360_ERRORS.default:
            return replace(found, code=f"http_{status}")
    err = graph_error(body, status, text or f"HTTP {status}")
    return classify_graph(D360_ERRORS, err, status, response.headers, body)


def with_token(url: str, token: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != TOKEN_PARAM]
    query.append((TOKEN_PARAM, token))
    return urlunsplit(parts._replace(query=urlencode(query)))


class Dialog360Adapter(WaBusinessAdapter):
    provider: ClassVar[Provider] = Provider.DIALOG360
    default_api_base: ClassVar[str] = "https://waba-v2.360dialog.io"
    supports_webhook_registration: ClassVar[bool] = True
    credential_fields: ClassVar[tuple[str, ...]] = ("api_key",)
    error_table: ClassVar[ErrorTable] = D360_ERRORS

    def messages_url(self) -> str:
        return f"{self.api_base}/messages"

    def auth_headers(self) -> dict[str, str]:
        return {"D360-API-KEY": self.config.credential("api_key")}

    def classify(self, response: httpx.Response, body: Any) -> SendOutcome:
        return self.error_outcome(classify_d360(response, body), raw=body)

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
            json=(
                {"url": with_token(url, secret)}
                if self.config.settings.get("webhook_token_in_url")
                else {"url": url, "headers": {TOKEN_HEADER_NAME: secret}}
            ),
            headers=headers,
        )
        outcome = await self.call(call)
        if isinstance(outcome, Retry):
            return ConnectionCheck(False, outcome.text)
        response, body = outcome
        if 200 <= response.status_code < 300:
            return ConnectionCheck(True, url)
        return ConnectionCheck(False, classify_d360(response, body).text)

    def verify_webhook(self, request: WebhookRequest) -> bool:
        secret = self.config.webhook_secret
        given = request.query.get(TOKEN_PARAM) or request.headers.get(TOKEN_HEADER)
        return bool(secret) and constant_time_equals(given, secret)
