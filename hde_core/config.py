"""Settings read from the environment (``HDE_*``) with safe defaults for a fresh clone.

Only deployment facts live here (where the database is, the secret key, the
language). Everything a team lead changes at run time lives in the database.
"""

from __future__ import annotations

import logging
import os
import secrets
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from hde_core.errors import ConfigError

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HDE_", extra="ignore")

    data_dir: Path = Field(default=PROJECT_ROOT / "data")
    database_url: str = ""
    secret_key: str = ""
    lang: Literal["ru", "en"] = "ru"
    default_region: str = "RU"
    upload_limit_mb: int = 200
    # How big a contact list may be, counted while it is read (hde_core.lists.limits).
    list_max_rows: int = 1_048_576
    list_max_columns: int = 1_000
    list_max_cells: int = 20_000_000
    list_max_unpacked_mb: int = 1024
    # Where the webhook receiver is reachable from providers (used when registering webhooks);
    # unset: the services server itself, on its host and port (see _public_url).
    public_url: str = ""
    console_port: int = 8501
    services_host: str = "127.0.0.1"
    services_port: int = 8787
    smtp_sink_port: int = 2525
    # `hde mail-in`: the inbound SMTP/LMTP endpoint the MX forwards replies to.
    mail_in_port: int = 2526
    # A console session ends after this long without activity, and at the latest this long
    # after signing in (hde_core.services.sessions).
    session_idle_minutes: int = 120
    session_max_hours: int = 12

    @model_validator(mode="after")
    def _public_url(self) -> Settings:
        """``HDE_PUBLIC_URL`` without its trailing slash, or the services server when unset,
        so moving ``HDE_SERVICES_PORT`` moves the webhooks registered with providers too."""
        if self.public_url.strip():
            self.public_url = self.public_url.strip().rstrip("/")
        else:
            host = self.services_host
            if host in ("0.0.0.0", "::", ""):
                host = "127.0.0.1"
            self.public_url = f"http://{host}:{self.services_port}"
        return self

    @field_validator("default_region")
    @classmethod
    def _upper_region(cls, v: str) -> str:
        v = v.strip().upper()
        if len(v) != 2 or not v.isalpha():
            raise ValueError("HDE_DEFAULT_REGION must be a two-letter country code such as RU")
        return v

    @field_validator("upload_limit_mb")
    @classmethod
    def _positive_limit(cls, v: int) -> int:
        if v <= 0:
            raise ValueError("HDE_UPLOAD_LIMIT_MB must be a positive number of megabytes")
        return v

    @field_validator("session_idle_minutes", "session_max_hours")
    @classmethod
    def _positive_session_limit(cls, v: int, info: ValidationInfo) -> int:
        if v <= 0:
            raise ValueError(f"HDE_{(info.field_name or '').upper()} must be a positive number")
        return v

    @field_validator("list_max_rows", "list_max_columns", "list_max_cells", "list_max_unpacked_mb")
    @classmethod
    def _positive_list_limit(cls, v: int, info: ValidationInfo) -> int:
        if v <= 0:
            raise ValueError(f"HDE_{(info.field_name or '').upper()} must be a positive number")
        return v

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{self.data_dir / 'hde.db'}"

    @cached_property
    def resolved_secret_key(self) -> str:
        """The key that encrypts channel credentials.

        If ``HDE_SECRET_KEY`` is not set, one is generated once into ``data/secret.key``
        (with a warning): losing that file makes stored credentials unreadable.
        """
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret.key"
        if path.exists():
            return path.read_text(encoding="utf-8").strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(key + "\n")
        log.warning(
            "HDE_SECRET_KEY is not set: generated a new key in %s. Back this file up "
            "(or set HDE_SECRET_KEY); without it stored channel credentials cannot be read.",
            path,
        )
        return key


def load_settings(**overrides: object) -> Settings:
    """The settings from the environment; a wrong one is a :class:`ConfigError` naming the
    variable and what is wrong with it in one line (exit code 2), not a traceback."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problem = exc.errors()[0]
        field = ".".join(str(part) for part in problem.get("loc", ())) or "?"
        name = f"HDE_{field.upper()}"
        value = os.environ.get(name, str(problem.get("input", "")))
        reason = str(problem.get("msg", "")).removeprefix("Value error, ")
        raise ConfigError("error.setting_invalid", name=name, value=value, reason=reason) from None
