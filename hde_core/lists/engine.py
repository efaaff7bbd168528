"""The verdict of every row of a list, decided by the one rule.

:func:`hde_core.domain.eligibility.evaluate` decides for one recipient. A row's verdict
depends only on a handful of facts — address missing/invalid/ok, has written, opted out,
window open, duplicate, unreadable, message too long, the first empty required field — so
the engine packs those facts into one small integer per row, calls ``evaluate`` once per distinct combination (a few
dozen calls for a million rows), and spreads the answers back with numpy. The bulk verdict
is therefore ``evaluate``'s verdict by construction, not a re-implementation of it.

For an ordered fallback list of channels (R9) the first channel on which the row is
eligible wins; a row eligible nowhere keeps the first channel's verdict.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hde_core.domain.eligibility import AddressStatus, ChannelState, RecipientState, evaluate
from hde_core.domain.reasons import Action, Reason
from hde_core.lists.identities import IdentityIndex
from hde_core.lists.phones import INVALID, MISSING, OK
from hde_core.lists.recipients import ChannelRecipients

#: Stable small codes for the arrays (index into these tuples).
REASONS: tuple[Reason, ...] = tuple(Reason)
ACTIONS: tuple[Action, ...] = tuple(Action)
_REASON_CODE = {r: i for i, r in enumerate(REASONS)}
_ACTION_CODE = {a: i for i, a in enumerate(ACTIONS)}
ELIGIBLE = _REASON_CODE[Reason.ELIGIBLE]
_ADDRESS = {OK: AddressStatus.OK, MISSING: AddressStatus.MISSING, INVALID: AddressStatus.INVALID}


@dataclass(frozen=True)
class ChannelVerdicts:
    """Per row, on one channel: reason code, action code (-1: none), field index (-1)."""

    reason: np.ndarray
    action: np.ndarray
    field: np.ndarray


def duplicates(dedupe_key: pa.Array) -> np.ndarray:
    """Rows whose key (non-null) appeared in an earlier row, whatever that row's verdict."""
    n = len(dedupe_key)
    if n == 0:
        return np.zeros(0, dtype=bool)
    encoded = pc.dictionary_encode(dedupe_key)
    codes = np.asarray(
        pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False), dtype=np.int64
    )
    present = np.flatnonzero(codes >= 0)
    dup = np.zeros(n, dtype=bool)
    if not len(present):
        return dup
    seen = codes[present]
    # Arrow numbers distinct values in order of first appearance, so a row is the first of
    # its value exactly when its code is a new maximum (checked; else sort to be sure).
    running = np.maximum.accumulate(seen)
    is_first = np.empty(len(seen), dtype=bool)
    is_first[0] = True
    is_first[1:] = seen[1:] > running[:-1]
    if int(is_first.sum()) != len(encoded.dictionary) or running[-1] != len(encoded.dictionary) - 1:
        _, first = np.unique(seen, return_index=True)
        is_first[:] = False
        is_first[first] = True
    dup[present[~is_first]] = True
    return dup


def first_rows(dedupe_key: pa.Array) -> np.ndarray:
    """Per row, the 0-based index of the first row with the same key (itself when it is the
    first; -1 for a row with no key): what a duplicate row names as the row it repeats."""
    n = len(dedupe_key)
    out = np.full(n, -1, dtype=np.int64)
    if n == 0:
        return out
    encoded = pc.dictionary_encode(dedupe_key)
    codes = np.asarray(
        pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False), dtype=np.int64
    )
    present = np.flatnonzero(codes >= 0)
    if len(present):
        values, first = np.unique(codes[present], return_index=True)
        first_of = np.zeros(len(encoded.dictionary), dtype=np.int64)
        first_of[values] = present[first]
        out[present] = first_of[codes[present]]
    return out


def first_missing_field(empty: Sequence[np.ndarray], n: int) -> np.ndarray:
    """Index of the first required field that is empty in each row (-1: none)."""
    out = np.full(n, -1, dtype=np.int32)
    for i in range(len(empty) - 1, -1, -1):
        out[empty[i]] = i
    return out


def verdicts_on_channel(
    state: ChannelState,
    recipients: ChannelRecipients,
    index: IdentityIndex,
    missing_field: np.ndarray,
    required_fields: Sequence[str],
    now: datetime,
    unreadable: np.ndarray | None = None,
    text_too_long: np.ndarray | None = None,
) -> ChannelVerdicts:
    """Every row's verdict on one channel, from ``evaluate`` on each distinct set of facts."""
    n = len(recipients.status)
    known = recipients.identity >= 0
    where = np.where(known, recipients.identity, 0)

    def fact(per_identity: np.ndarray) -> np.ndarray:
        if not len(per_identity):
            return np.zeros(n, dtype=np.int64)
        return (known & per_identity[where]).astype(np.int64)

    dup = duplicates(recipients.dedupe_key).astype(np.int64)
    field = missing_field.astype(np.int64) + 1  # 0: none
    bad = np.zeros(n, dtype=np.int64) if unreadable is None else unreadable.astype(np.int64)
    long = np.zeros(n, dtype=np.int64) if text_too_long is None else text_too_long.astype(np.int64)
    combo = recipients.status.astype(np.int64) + 3 * (
        fact(index.has_written)
        + 2
        * (
            fact(index.opted_out)
            + 2 * (fact(index.window_open) + 2 * (dup + 2 * (bad + 2 * (long + 2 * field))))
        )
    )
    present = np.bincount(combo)  # small non-negative integers: no sort needed
    distinct = np.flatnonzero(present)
    slot = np.zeros(len(present), dtype=np.int64)
    slot[distinct] = np.arange(len(distinct))
    inverse = slot[combo]
    reason = np.empty(len(distinct), dtype=np.int8)
    action = np.empty(len(distinct), dtype=np.int8)
    field_out = np.empty(len(distinct), dtype=np.int32)
    for k, value in enumerate(distinct.tolist()):
        address, rest = value % 3, value // 3
        has_written, rest = rest % 2, rest // 2
        opted_out, rest = rest % 2, rest // 2
        window_open, rest = rest % 2, rest // 2
        duplicate, rest = rest % 2, rest // 2
        row_unreadable, rest = rest % 2, rest // 2
        row_too_long, field_index = rest % 2, rest // 2 - 1
        verdict = evaluate(
            state,
            RecipientState(
                address=_ADDRESS[address],
                has_written=bool(has_written),
                opted_out=bool(opted_out),
                last_inbound_at=now if window_open else None,
                missing_field=required_fields[field_index] if field_index >= 0 else None,
                duplicate=bool(duplicate),
                unreadable=bool(row_unreadable),
                text_too_long=bool(row_too_long),
            ),
            now,
        )
        reason[k] = _REASON_CODE[verdict.reason]
        action[k] = _ACTION_CODE[verdict.action] if verdict.action else -1
        field_out[k] = required_fields.index(verdict.field) if verdict.field else -1
    return ChannelVerdicts(reason[inverse], action[inverse], field_out[inverse])


def choose_channel(per_channel: Sequence[ChannelVerdicts]) -> np.ndarray:
    """Index of the channel each row goes to: the first eligible, else the first (R9)."""
    n = len(per_channel[0].reason)
    chosen = np.full(n, -1, dtype=np.int8)
    for i, verdicts in enumerate(per_channel):
        chosen[(chosen == -1) & (verdicts.reason == ELIGIBLE)] = i
    chosen[chosen == -1] = 0
    return chosen
