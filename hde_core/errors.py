"""One error tree for the whole product.

Every error carries a catalogue key and parameters, so each face can say it in
plain Russian or English (``str(error)`` is English, for logs). Configuration
errors are never swallowed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class HdeError(Exception):
    """Base of every error the product raises on purpose."""

    key = "error.generic"
    exit_code = 2

    def __init__(self, key: str | None = None, /, **params: Any) -> None:
        self.key = key or self.key
        self.params = params
        super().__init__(self.key)

    def message(self, lang: str | None = None) -> str:
        from hde_core.i18n import t

        return t(self.key, lang=lang, **self.params)

    def __str__(self) -> str:
        return self.message("en")


class UsageError(HdeError):
    """Bad command-line usage or an unusable argument (exit code 2)."""

    key = "error.usage"


class InputError(HdeError):
    """An input file or payload that cannot be read (exit code 2, nothing written)."""

    key = "error.input"


class ConfigError(HdeError):
    """A setting or provisioning value is wrong."""

    key = "error.config"


class SchemaOutdated(HdeError):
    key = "error.schema_outdated"


class NotFound(HdeError):
    key = "error.not_found"


class PermissionDenied(HdeError):
    key = "error.permission_denied"


class Refused(HdeError):
    """The work ran but was refused: one entry per problem (exit code 1)."""

    key = "error.refused"
    exit_code = 1

    def __init__(self, errors: Sequence[Any], key: str | None = None, /, **params: Any) -> None:
        super().__init__(key, **params)
        self.errors = list(errors)
