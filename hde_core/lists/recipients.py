"""Who each row is on one channel: the normalised recipient, the identity it matches, and
the key duplicates are found by.

Email and WhatsApp go through the bulk normalisers (whole columns at once); Telegram and
Viber rows are resolved one distinct value at a time, exactly as a single ticket's
recipient is (:func:`hde_core.services.recipients.resolve_recipient`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hde_core.domain.addresses import (
    Normalised,
    normalise_phone,
    normalise_telegram,
    normalise_viber,
)
from hde_core.domain.channels import ChannelKind
from hde_core.lists.emails import bulk_normalise_emails
from hde_core.lists.identities import IdentityIndex
from hde_core.lists.phones import MISSING, OK, STATUS_CODES, BulkAddresses, bulk_normalise_phones
from hde_core.lists.text import as_string_array, blank_mask


@dataclass(frozen=True)
class ChannelRecipients:
    status: np.ndarray  # int8: OK / MISSING / INVALID
    values: pa.Array  # normalised recipient, null unless OK
    identity: np.ndarray  # int64 position in the IdentityIndex, -1 when unknown
    dedupe_key: pa.Array  # string, null unless OK: rows with the same key are one recipient


def normalise_column(
    kind: ChannelKind,
    column: pa.Array,
    region: str,
    check_deliverability: bool = False,
    deliverable: Callable[[str], bool] | None = None,
) -> BulkAddresses:
    """Email and phone channels: the bulk normalisers."""
    if kind == ChannelKind.EMAIL:
        return bulk_normalise_emails(column, check_deliverability, deliverable)
    return bulk_normalise_phones(column, region)


def match_addresses(addresses: BulkAddresses, index: IdentityIndex) -> ChannelRecipients:
    """Email and WhatsApp identities are found by their normalised address."""
    found = pc.index_in(addresses.values, value_set=index.addresses)
    identity = np.asarray(pc.fill_null(found, -1).to_numpy(zero_copy_only=False), dtype=np.int64)
    return ChannelRecipients(addresses.status, addresses.values, identity, addresses.values)


def resolve_messengers(
    kind: ChannelKind,
    column: pa.Array,
    region: str,
    index: IdentityIndex,
    from_phone: np.ndarray | None = None,
) -> ChannelRecipients:
    """Telegram/Viber: a chat id, an @username or Viber id, or a phone the client shared.

    ``from_phone`` marks rows whose value came from the list's phone column: those are
    phone numbers only ("12345" there is an invalid phone, never a chat id)."""
    raw = as_string_array(column)
    n = len(raw)
    status = np.full(n, MISSING, dtype=np.int8)
    identity = np.full(n, -1, dtype=np.int64)
    values: list[str | None] = [None] * n
    keys: list[str | None] = [None] * n
    cache: dict[str, tuple[int, str | None, int]] = {}
    blank = blank_mask(raw)
    texts = raw.to_pylist()
    for i in np.flatnonzero(~blank):
        text = texts[i]
        phone_only = from_phone is not None and bool(from_phone[i])
        key = "\x00" + text if phone_only else text
        hit = cache.get(key)
        if hit is None:
            if phone_only:
                normalised = normalise_phone(text, region)
                position = index.by_phone.get(normalised.value) if normalised.value else None
            else:
                normalised, position = resolve_messenger(kind, text, region, index)
            hit = cache[key] = (
                STATUS_CODES[normalised.status],
                # a known client is written to at their chat id (an @username is not one),
                # as a single ticket does
                normalised.value if position is None else index.addresses[position].as_py(),
                -1 if position is None else position,
            )
        status[i], values[i], identity[i] = hit
        if hit[0] == OK:
            keys[i] = f"#{hit[2]}" if hit[2] >= 0 else hit[1]
    return ChannelRecipients(
        status, pa.array(values, pa.string()), identity, pa.array(keys, pa.string())
    )


def resolve_messenger(
    kind: ChannelKind, raw: str | None, region: str, index: IdentityIndex
) -> tuple[Normalised, int | None]:
    """The rules of ``resolve_recipient``, with the identity looked up in ``index``."""
    n = normalise_telegram(raw) if kind == ChannelKind.TELEGRAM else normalise_viber(raw)
    if n.ok and n.value:
        if n.value.startswith("@"):
            return n, index.by_username.get(n.value.lstrip("@").lower())
        position = index.by_address.get(n.value)
        if position is not None or kind == ChannelKind.VIBER or not n.value.lstrip("-").isdigit():
            return n, position
        # a long digit string may also be a phone number
    phone = normalise_phone(raw, region)
    if phone.ok and phone.value:
        return phone, index.by_phone.get(phone.value)
    # an id the channel accepts stays that id (unknown: no_prior_contact); else the phone's verdict
    return (n if n.ok else phone), None
