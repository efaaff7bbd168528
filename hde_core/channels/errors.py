"""One way to read a provider's error: a declarative table per provider, one ``classify``.

Every adapter declares an :class:`ErrorTable` — rows of
``code (and words in the text) → class, stop signal, pause, retry-after source`` —
built from the provider's documented error list (``shared/PROVIDERS.md``). The same
table serves both paths where a provider reports a failure:

- the **send path**: the answer to the send call (:meth:`ErrorTable.classify` then
  :func:`outcome_for`, the one mapping from a class to a typed outcome);
- the **status-webhook path**: a ``failed`` status with an error code (WhatsApp
  ``statuses[].errors[]``, Green-API ``outgoingMessageStatus``, Viber ``failed``)
  carries the same class and stop signal in its :class:`StatusUpdate`, and
  :func:`hde_core.services.statuses.apply_status` acts on it through
  :func:`outcome_for` too.

A code that is not in the table is transient: the retry policy caps it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hde_core.domain.outcomes import (
    PERMANENT,
    Disconnected,
    ErrorClass,
    Fail,
    Hold,
    Retry,
    SendOutcome,
)

E = ErrorClass


@dataclass(frozen=True)
class ErrorRule:
    """What one documented error means for us."""

    error_class: ErrorClass
    #: Seconds to wait before the next attempt when the provider gives no delay.
    pause: float | None = None
    #: The pause applies to the whole channel (True) or only to this recipient.
    channel_wide: bool = True
    #: The provider says this client cannot or will not receive: record an opt-out (R15),
    #: so nothing is sent to this identity again until the client writes.
    stop: bool = False


@dataclass(frozen=True)
class ErrorRow:
    """``code`` (an int, a word such as ``noAccount``, or a ``range``) plus optional words.

    ``words`` (lower case) must appear in the provider's text for the row to match;
    an empty ``words`` matches any text. Rows are tried in order: first match wins.
    """

    code: int | str | range
    rule: ErrorRule
    words: str = ""
    note: str = ""


TRANSIENT = ErrorRule(E.TRANSIENT)

#: Where a provider's own delay may be found: ``header`` (``Retry-After``), ``body:<path>``
#: (dotted path in the JSON answer, e.g. ``body:parameters.retry_after``) or ``text``
#: ("retry after N" in the description).
RetryAfterSource = str

_RETRY_AFTER_TEXT = re.compile(r"retry after (\d+)", re.IGNORECASE)


@dataclass(frozen=True)
class Classified:
    """One error after the table was read."""

    rule: ErrorRule
    code: str
    text: str
    after: float | None = None

    @property
    def error_class(self) -> ErrorClass:
        return self.rule.error_class


@dataclass
class ErrorTable:
    """A provider's documented errors, read by :meth:`classify` (first match wins)."""

    rows: tuple[ErrorRow, ...]
    #: Where the provider puts its own delay on a rate-limit answer, in order.
    retry_after: tuple[RetryAfterSource, ...] = ("header",)
    default: ErrorRule = TRANSIENT
    _by_code: dict[int | str, list[ErrorRow]] = field(init=False, repr=False)
    _ranges: list[ErrorRow] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._by_code = {}
        self._ranges = []
        for row in self.rows:
            if isinstance(row.code, range):
                self._ranges.append(row)
            else:
                self._by_code.setdefault(row.code, []).append(row)

    def knows(self, code: int | str) -> bool:
        return code in self._by_code

    def rule(self, code: int | str | None, text: str = "") -> ErrorRule:
        if code is None:
            return self.default
        lowered = text.lower()
        for row in self._by_code.get(code, ()):
            if not row.words or row.words in lowered:
                return row.rule
        if isinstance(code, int):
            for row in self._ranges:
                if code in row.code:  # type: ignore[operator]
                    return row.rule
        return self.default

    def classify(
        self,
        code: int | str | None,
        text: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: Any = None,
        code_label: str | None = None,
    ) -> Classified:
        rule = self.rule(code, text)
        after = None
        if rule.error_class in (E.RATE_LIMITED, E.TRANSIENT):
            after = self._after(headers, body, text)
        label = code_label if code_label is not None else ("" if code is None else str(code))
        return Classified(rule, label, text, after)

    def documented(self) -> list[ErrorRow]:
        """Every row with a single code (what the table-driven tests feed through)."""
        return [row for row in self.rows if not isinstance(row.code, range)]

    def _after(self, headers: Mapping[str, str] | None, body: Any, text: str) -> float | None:
        for source in self.retry_after:
            value: Any = None
            if source == "header" and headers is not None:
                value = headers.get("retry-after")
            elif source.startswith("body:"):
                value = _dig(body, source[5:])
            elif source == "text":
                match = _RETRY_AFTER_TEXT.search(text)
                value = match.group(1) if match else None
            seconds = _seconds(value)
            if seconds is not None:
                return seconds
        return None


def _dig(body: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(body, Mapping):
            return None
        body = body.get(part)
    return body


def _seconds(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    if seconds != seconds or seconds < 0 or seconds > 7 * 24 * 3600:  # NaN, absurd
        return None
    return seconds


def outcome_for(classified: Classified, raw: Any = None, text: str | None = None) -> SendOutcome:
    """The one mapping from an error class to what the dispatcher does (every provider)."""
    rule = classified.rule
    words = classified.text if text is None else text
    if rule.error_class in (E.RATE_LIMITED, E.TRANSIENT):
        return Retry(
            rule.error_class,
            classified.code,
            words,
            after=classified.after if classified.after is not None else rule.pause,
            channel_wide=rule.channel_wide,
            raw=raw,
        )
    if rule.error_class == E.WINDOW_CLOSED:
        return Hold(classified.code, words, raw=raw)
    if rule.error_class == E.AUTH:
        return Disconnected(classified.code, words, raw=raw)
    if rule.error_class in PERMANENT:
        return Fail(rule.error_class, classified.code, words, opt_out=rule.stop, raw=raw)
    raise ValueError(f"no outcome for error class {rule.error_class!r}")


def rows(*items: tuple[Any, ...]) -> tuple[ErrorRow, ...]:
    """Shorthand for tables: ``(code, rule)`` or ``(code, words, rule)``."""
    built: list[ErrorRow] = []
    for item in items:
        if len(item) == 2:
            built.append(ErrorRow(item[0], item[1]))
        else:
            built.append(ErrorRow(item[0], item[2], words=item[1]))
    return tuple(built)


def status_fields(classified: Classified) -> dict[str, Any]:
    """What a ``failed`` status webhook carries after its code went through the table."""
    rule = classified.rule
    return {
        "error_class": rule.error_class,
        "opt_out": rule.stop,
        "window_closed": rule.error_class == E.WINDOW_CLOSED,
        "retry_after": classified.after if classified.after is not None else rule.pause,
    }
