"""Every row's verdict on one channel or an ordered fallback list of channels (R9).

Whole columns are normalised at once (see :mod:`hde_core.lists.phones`,
:mod:`hde_core.lists.emails`) and the channel's identities are loaded in one query, while
the columns are normalised. A bad row never stops the list; it gets its code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hde_core.bootstrap import App
from hde_core.domain.channels import PHONE_KINDS, ChannelKind
from hde_core.domain.eligibility import ChannelState
from hde_core.domain.limits import too_long
from hde_core.domain.reasons import Action, Reason
from hde_core.errors import InputError, UsageError
from hde_core.i18n import t
from hde_core.lists.engine import (
    ACTIONS,
    REASONS,
    ChannelVerdicts,
    choose_channel,
    first_missing_field,
    first_rows,
    verdicts_on_channel,
)
from hde_core.lists.identities import IdentityIndex
from hde_core.lists.limits import some_names
from hde_core.lists.phones import BulkAddresses
from hde_core.lists.recipients import (
    ChannelRecipients,
    match_addresses,
    normalise_column,
    resolve_messengers,
)
from hde_core.lists.text import is_blank_mask
from hde_core.services.channels import channel_by_name, channel_state, text_limit
from hde_core.services.lists.loading import LoadedList

#: Rows normalised per step (bounds memory; one progress tick each).
CHUNK_ROWS = 250_000


@dataclass(frozen=True)
class ChannelInfo:
    id: int
    name: str
    kind: ChannelKind
    state: ChannelState
    #: The longest messenger text its provider takes (None: email).
    text_limit: int | None = None


@dataclass(frozen=True)
class RowVerdict:
    """One row's verdict. ``row_number`` is 1-based and counts data rows only (the header
    row is not counted: row 1 is the first row under the header)."""

    row_number: int
    values: dict[str, str]
    recipient: str | None
    channel_id: int | None
    identity_id: int | None
    reason: Reason
    action: Action | None
    field: str | None
    channel: str | None = None
    #: A ``duplicate`` row: the 1-based number of the row it repeats.
    duplicate_of: int | None = None

    @property
    def eligible(self) -> bool:
        return self.reason == Reason.ELIGIBLE

    def message(self, lang: str | None = None) -> str:
        return reason_text(self.reason, lang, self.field, self.duplicate_of)


def reason_text(
    reason: Reason, lang: str | None, field: str | None = None, duplicate_of: int | None = None
) -> str:
    """A row's verdict in plain words; a duplicate names the row it repeats."""
    if reason == Reason.DUPLICATE and duplicate_of:
        return t("lists.duplicate.of", lang, row=duplicate_of)
    return t(f"reason.{reason.value}", lang, field=field or "")


@dataclass
class ValidationResult:
    """Every row's verdict, kept as arrays; rows are materialised only when iterated.

    For a row eligible nowhere, ``channel``/``recipient`` are those of the first channel
    (whose reason is reported)."""

    loaded: LoadedList
    channels: list[ChannelInfo]
    required_fields: tuple[str, ...]
    chosen: np.ndarray  # channel index per row
    reason_codes: np.ndarray  # index into engine.REASONS
    action_codes: np.ndarray  # index into engine.ACTIONS, -1 none
    field_codes: np.ndarray  # index into required_fields, -1 none
    recipients: list[ChannelRecipients]
    identity_ids: list[np.ndarray]
    _duplicate_of: np.ndarray | None = dataclass_field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.reason_codes)

    @property
    def rows(self) -> int:
        return len(self.reason_codes)

    @property
    def eligible(self) -> int:
        return int(np.count_nonzero(self.reason_codes == REASONS.index(Reason.ELIGIBLE)))

    def summary(self) -> dict[str, Any]:
        """SPEC §4: ``{"rows": N, "eligible": N, "actions": {...}, "reasons": {...}}``.

        ``actions`` counts eligible rows per action and ``reasons`` counts the other rows per
        reason code; every action and every code is present (0 when none)."""
        reasons = np.bincount(self.reason_codes, minlength=len(REASONS))
        actions = np.bincount(self.action_codes[self.action_codes >= 0], minlength=len(ACTIONS))
        return {
            "rows": self.rows,
            "eligible": self.eligible,
            "actions": {a.value: int(actions[i]) for i, a in enumerate(ACTIONS)},
            "reasons": {
                r.value: int(reasons[i]) for i, r in enumerate(REASONS) if r != Reason.ELIGIBLE
            },
        }

    def duplicate_of(self) -> np.ndarray:
        """Per row, the 1-based row a ``duplicate`` row repeats on its channel (0: not one)."""
        if self._duplicate_of is None:
            out = np.zeros(self.rows, dtype=np.int64)
            is_dup = self.reason_codes == REASONS.index(Reason.DUPLICATE)
            for c, found in enumerate(self.recipients):
                rows = np.flatnonzero(is_dup & (self.chosen == c))
                if len(rows):
                    out[rows] = first_rows(found.dedupe_key)[rows] + 1
            self._duplicate_of = out
        return self._duplicate_of

    def iter_rows(self) -> Iterator[RowVerdict]:
        recipients = [r.values.to_pylist() for r in self.recipients]
        duplicate_of = self.duplicate_of()
        for i, values in enumerate(self.loaded.iter_rows()):
            c = int(self.chosen[i])
            channel = self.channels[c]
            identity = int(self.identity_ids[c][i])
            action = int(self.action_codes[i])
            field_index = int(self.field_codes[i])
            yield RowVerdict(
                row_number=i + 1,
                values={k: str(v) for k, v in values.items()},
                recipient=recipients[c][i],
                channel_id=channel.id,
                identity_id=identity if identity > 0 else None,
                reason=REASONS[int(self.reason_codes[i])],
                action=ACTIONS[action] if action >= 0 else None,
                field=self.required_fields[field_index] if field_index >= 0 else None,
                channel=channel.name,
                duplicate_of=int(duplicate_of[i]) or None,
            )


def parse_channels(channels: str | Sequence[str]) -> list[str]:
    """``"a,b"`` or ``["a", "b"]`` → ``["a", "b"]`` (order kept, repeats dropped)."""
    items = channels.split(",") if isinstance(channels, str) else list(channels)
    out: list[str] = []
    for item in items:
        for name in str(item).split(","):
            name = name.strip()
            if name and name not in out:
                out.append(name)
    if not out:
        raise UsageError("lists.error.no_channel")
    return out


def reaching_roles(kind: ChannelKind) -> tuple[str, ...]:
    """The list columns (by role) a channel of ``kind`` can reach a row by: email by the
    address, WhatsApp and Viber-by-phone kinds by the phone, Telegram and Viber by their own
    id or else the phone (see :func:`recipient_column`)."""
    if kind == ChannelKind.EMAIL:
        return ("email",)
    if kind in PHONE_KINDS:
        return ("phone",)
    return ("telegram" if kind == ChannelKind.TELEGRAM else "viber", "phone")


def recipient_column(loaded: LoadedList, kind: ChannelKind) -> pa.Array | None:
    """The values a channel of ``kind`` reaches rows by (None: the list has no such column)."""
    mapping = loaded.mapping
    if kind == ChannelKind.EMAIL:
        column = mapping.get("email")
        return loaded.column_array(column) if column else None
    if kind in PHONE_KINDS:
        column = mapping.get("phone")
        return loaded.column_array(column) if column else None
    own = mapping.get("telegram" if kind == ChannelKind.TELEGRAM else "viber")
    phone = mapping.get("phone")
    if own and phone:  # the messenger id, else the phone the client may have shared
        primary = loaded.column_array(own)
        return pc.if_else(pa.array(is_blank_mask(primary)), loaded.column_array(phone), primary)
    if own or phone:
        return loaded.column_array(own or phone or "")
    return None


def from_phone(loaded: LoadedList, kind: ChannelKind, n: int) -> np.ndarray | None:
    """Rows whose messenger recipient comes from the phone column (see recipient_column)."""
    mapping = loaded.mapping
    own = mapping.get("telegram" if kind == ChannelKind.TELEGRAM else "viber")
    if not mapping.get("phone"):
        return None
    if not own:
        return np.ones(n, dtype=bool)
    return np.asarray(is_blank_mask(loaded.column_array(own)), dtype=bool)


def validate_list(
    app: App,
    loaded: LoadedList,
    channels: str | Sequence[str],
    *,
    required_fields: Sequence[str] = (),
    check_deliverability: bool = False,
    progress: Callable[[int, int], None] | None = None,
    deliverable: Callable[[str], bool] | None = None,
    text_lengths: np.ndarray | None = None,
) -> ValidationResult:
    """Every row's verdict on ``channels`` (one name, or an ordered fallback list, R9).

    ``required_fields`` are columns that must be non-empty in a row (required custom
    fields, template parameters, placeholders of the message): a row missing one gets
    ``missing_field`` naming it. ``text_lengths`` is the length of each row's rendered
    message: a row whose message is longer than a messenger channel's provider takes gets
    ``text_too_long`` on that channel (issue 15.4). Raises :class:`NotFound` for an unknown channel and
    :class:`InputError` when the list has no column to reach any of the channels by."""
    names = parse_channels(channels)
    now = app.clock.now()
    region = app.settings.default_region
    with app.db.reader() as session:
        infos: list[ChannelInfo] = []
        for name in names:
            channel = channel_by_name(session, name)
            kind = ChannelKind(channel.kind)
            infos.append(
                ChannelInfo(
                    channel.id,
                    channel.name,
                    kind,
                    channel_state(session, channel),
                    text_limit(kind, channel.provider),
                )
            )
    columns = [recipient_column(loaded, info.kind) for info in infos]
    if all(c is None for c in columns):
        raise InputError(
            "lists.error.no_recipient_column",
            name=loaded.name,
            needed=", ".join(_needed_roles(infos)),
            headers=some_names(loaded.headers),
            role=_needed_roles(infos)[0],
        )
    n = loaded.row_count
    total = max(n * len(infos), 1)
    done = 0
    required = tuple(required_fields)
    empty = [
        is_blank_mask(loaded.column_array(f)) if f in loaded.headers else np.ones(n, dtype=bool)
        for f in required
    ]
    missing_field = first_missing_field(empty, n)
    per_channel: list[ChannelVerdicts] = []
    recipients: list[ChannelRecipients] = []
    indexes: list[IdentityIndex] = []
    step = CHUNK_ROWS if progress else max(n, 1)  # steps only for a progress bar
    # The identities load from the database while the columns are normalised (an in-memory
    # SQLite database exists in one connection only, so it is read in this thread).
    workers = 0 if app.db.is_sqlite and ":memory:" in app.db.url else 2
    with ThreadPoolExecutor(max_workers=workers) if workers else _Inline() as pool:
        loading = [pool.submit(_load_index, app, info, now) for info in infos]
        for info, future, column in zip(infos, loading, columns, strict=True):
            if column is None:
                column = pa.nulls(n, pa.string())
            by_address = info.kind == ChannelKind.EMAIL or info.kind in PHONE_KINDS
            addresses: list[BulkAddresses] = []
            resolved: list[ChannelRecipients] = []
            phones = None if by_address else from_phone(loaded, info.kind, n)
            for start in range(0, max(n, 1), step):
                chunk = column.slice(start, step)
                if by_address:
                    addresses.append(
                        normalise_column(
                            info.kind, chunk, region, check_deliverability, deliverable
                        )
                    )
                else:
                    resolved.append(
                        resolve_messengers(
                            info.kind,
                            chunk,
                            region,
                            future.result(),
                            None if phones is None else phones[start : start + step],
                        )
                    )
                done += len(chunk)
                if progress:
                    progress(done, total)
            index = future.result()
            if by_address:
                found = match_addresses(_concat_addresses(addresses), index)
            else:
                found = _concat(resolved)
            indexes.append(index)
            recipients.append(found)
            long = None
            if text_lengths is not None and info.text_limit is not None:
                long = too_long(text_lengths, info.text_limit)
            per_channel.append(
                verdicts_on_channel(
                    info.state,
                    found,
                    index,
                    missing_field,
                    required,
                    now,
                    loaded.unreadable,
                    long,
                )
            )
    chosen = choose_channel(per_channel)
    rows = np.arange(n)
    stack = lambda name: np.stack([getattr(v, name) for v in per_channel])  # noqa: E731
    identity_ids = [
        np.where(r.identity >= 0, idx.ids[np.maximum(r.identity, 0)] if len(idx) else 0, 0)
        for r, idx in zip(recipients, indexes, strict=True)
    ]
    return ValidationResult(
        loaded=loaded,
        channels=infos,
        required_fields=required,
        chosen=chosen,
        reason_codes=stack("reason")[chosen, rows],
        action_codes=stack("action")[chosen, rows],
        field_codes=stack("field")[chosen, rows],
        recipients=recipients,
        identity_ids=identity_ids,
    )


class _Inline:
    """A stand-in for the thread pool that runs each job at once, in this thread."""

    def __enter__(self) -> _Inline:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def submit(self, fn: Callable[..., IdentityIndex], *args: Any) -> Future[IdentityIndex]:
        future: Future[IdentityIndex] = Future()
        future.set_result(fn(*args))
        return future


def _load_index(app: App, info: ChannelInfo, now: datetime) -> IdentityIndex:
    with app.db.reader() as session:
        return IdentityIndex.load(
            session, info.id, now, lookups=info.kind not in PHONE_KINDS | {ChannelKind.EMAIL}
        )


def _concat_addresses(parts: Sequence[BulkAddresses]) -> BulkAddresses:
    if len(parts) == 1:
        return parts[0]
    return BulkAddresses(
        np.concatenate([p.status for p in parts]), pa.concat_arrays([p.values for p in parts])
    )


def _needed_roles(infos: Sequence[ChannelInfo]) -> list[str]:
    roles: list[str] = []
    for info in infos:
        role = {
            ChannelKind.EMAIL: "email",
            ChannelKind.TELEGRAM: "telegram",
            ChannelKind.VIBER: "viber",
        }.get(info.kind, "phone")
        if role not in roles:
            roles.append(role)
    return roles


def _concat(parts: Sequence[ChannelRecipients]) -> ChannelRecipients:
    if len(parts) == 1:
        return parts[0]
    values = pa.concat_arrays([p.values for p in parts])
    same = all(p.values is p.dedupe_key for p in parts)
    return ChannelRecipients(
        status=np.concatenate([p.status for p in parts]),
        values=values,
        identity=np.concatenate([p.identity for p in parts]),
        dedupe_key=values if same else pa.concat_arrays([p.dedupe_key for p in parts]),
    )
