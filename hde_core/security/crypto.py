"""Encryption of channel credentials and SMTP URLs at rest (Fernet, from ``cryptography``).

``HDE_SECRET_KEY`` may be any string; the Fernet key is derived from it with
HKDF-SHA256, so admins need not produce a base64 key by hand.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from hde_core.errors import ConfigError


class SecretBox:
    def __init__(self, secret_key: str) -> None:
        if not secret_key or len(secret_key) < 16:
            raise ConfigError("error.secret_key_short")
        raw = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=b"hde-outreach", info=b"credentials"
        ).derive(secret_key.encode("utf-8"))
        self._fernet = Fernet(base64.urlsafe_b64encode(raw))

    def encrypt(self, value: str) -> str:
        return self._fernet.encrypt(value.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except InvalidToken as exc:
            raise ConfigError("error.secret_key_mismatch") from exc

    def readable(self, token: str | None) -> bool:
        """Whether ``token`` (if any) was encrypted with this key."""
        if not token:
            return True
        try:
            self.decrypt(token)
        except ConfigError:
            return False
        return True

    def encrypt_json(self, value: dict[str, Any]) -> str:
        return self.encrypt(json.dumps(value, sort_keys=True))

    def decrypt_json(self, token: str | None) -> dict[str, Any]:
        if not token:
            return {}
        data = json.loads(self.decrypt(token))
        return data if isinstance(data, dict) else {}


def mask(value: str | None) -> str:
    """How a stored secret is shown: never the value, only that one is set and its tail."""
    if not value:
        return ""
    if len(value) <= 8:
        return "••••"
    return "••••" + value[-4:]
