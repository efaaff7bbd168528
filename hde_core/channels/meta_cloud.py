"""Meta WhatsApp Cloud API (the official WhatsApp Business API, hosted by Meta).

Credentials of a channel::

    access_token      system-user token, sent as ``Authorization: Bearer …``
    phone_number_id   the business number's id: ``POST /{version}/{phone_number_id}/messages``
    waba_id           the WhatsApp Business Account: ``GET /{version}/{waba_id}/message_templates``
    app_secret        signs webhooks (``X-Hub-Signature-256``); the channel's webhook_secret
                      is used when this is absent
    verify_token      answers Meta's ``hub.challenge`` subscription check (falls back to
                      the channel's webhook_secret)

Settings: ``api_version`` (default ``v23.0``), ``per_recipient_interval`` (seconds),
``templates_page_size`` (default 100). Webhooks are configured in Meta's app
dashboard (callback URL ``<public url>/webhooks/<channel name>`` and the verify
token), so this adapter does not register them.
"""

from __future__ import annotations

from typing import Any, ClassVar

from hde_core.channels.base import TemplateInfo, WebhookRequest
from hde_core.channels.wa_common import ProviderCallFailed, WaBusinessAdapter, template_info
from hde_core.channels.wa_webhooks import hub_challenge
from hde_core.domain.channels import Provider
from hde_core.domain.outcomes import ConnectionCheck
from hde_core.errors import HdeError

DEFAULT_VERSION = "v23.0"
#: Pages of more than this many templates are never asked for (a runaway guard).
MAX_TEMPLATE_PAGES = 200


class MetaCloudAdapter(WaBusinessAdapter):
    provider: ClassVar[Provider] = Provider.META_CLOUD
    default_api_base: ClassVar[str] = "https://graph.facebook.com"
    credential_fields: ClassVar[tuple[str, ...]] = (
        "access_token",
        "phone_number_id",
        "waba_id",
        "app_secret",
        "verify_token",
    )
    #: Meta signs webhooks with the app secret (the webhook secret stands in for it).
    webhook_needs_secret: ClassVar[bool] = False

    @property
    def version(self) -> str:
        return str(self.config.settings.get("api_version") or DEFAULT_VERSION).strip("/")

    def graph_url(self, *parts: str) -> str:
        return "/".join([self.api_base, self.version, *parts])

    def messages_url(self) -> str:
        return self.graph_url(self.config.credential("phone_number_id"), "messages")

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.config.credential('access_token')}"}

    async def check_connection(self) -> ConnectionCheck:
        """The phone-number endpoint proves the token and the number id together."""
        try:
            body = await self.get_json(
                self.graph_url(self.config.credential("phone_number_id")),
                {"fields": "display_phone_number,verified_name,quality_rating"},
            )
        except ProviderCallFailed as exc:
            return ConnectionCheck(False, exc.text)
        except HdeError as exc:  # a credential is missing
            return ConnectionCheck(False, exc.message())
        name = body.get("verified_name") or ""
        number = body.get("display_phone_number") or ""
        detail = f"{name} ({number})" if name and number else name or number
        return ConnectionCheck(True, detail, info=dict(body))

    async def list_templates(self) -> list[TemplateInfo]:
        """Every template of the WABA, following the cursor pages."""
        url = self.graph_url(self.config.credential("waba_id"), "message_templates")
        params: dict[str, Any] = {
            "fields": "name,status,category,language,components,parameter_format,id",
            "limit": int(self.config.settings.get("templates_page_size") or 100),
        }
        found: list[TemplateInfo] = []
        for _ in range(MAX_TEMPLATE_PAGES):
            body = await self.get_json(url, params)
            found += [template_info(item) for item in body.get("data") or []]
            paging = body.get("paging") or {}
            after = (paging.get("cursors") or {}).get("after")
            # Graph gives "next" only while there are more pages; follow its cursor,
            # never the URL itself (it must stay on our api_base).
            if not paging.get("next") or not after:
                break
            params = {**params, "after": after}
        return found

    def handshake(self, request: WebhookRequest) -> tuple[int, str] | None:
        token = self.config.credentials.get("verify_token") or self.config.webhook_secret
        return hub_challenge(request.query, token)
