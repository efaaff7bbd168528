"""What the database knows about a channel's contacts, loaded in one query for a whole list.

A list is checked against every identity of the channel at once: the addresses go into an
Arrow array (hash lookups of a million values in C++), the facts eligibility needs —
has written (R3), opted out (R15), window open (R12) — into numpy arrays by position.

Matching follows :func:`hde_core.services.recipients.resolve_recipient` (the single-ticket
path), so a row and a ticket to the same person find the same identity: email and WhatsApp
by normalised address; Telegram by chat id, @username, or a phone the client shared; Viber
by id or shared phone. When several identities share a username or phone, the oldest wins.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pyarrow as pa
from sqlalchemy.orm import Session

from hde_core.db.models import ContactIdentity
from hde_core.domain.window import WINDOW


@dataclass
class IdentityIndex:
    ids: np.ndarray  # int64, by position
    addresses: pa.Array  # string, by position (unique per channel)
    has_written: np.ndarray  # bool
    opted_out: np.ndarray  # bool
    window_open: np.ndarray  # bool
    by_address: dict[str, int] = field(default_factory=dict)
    by_username: dict[str, int] = field(default_factory=dict)
    by_phone: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def load(
        cls, session: Session, channel_id: int, now: datetime, *, lookups: bool = False
    ) -> IdentityIndex:
        """All identities of the channel. ``lookups`` also builds the dictionaries the
        Telegram/Viber resolution needs (username, shared phone)."""
        c = ContactIdentity
        table = c.__tablename__
        # R12 as SQL: now < last_inbound_at + 24 h  ⇔  last_inbound_at > now - 24 h (exact),
        # the bound value prepared by the column type itself (naive UTC text on SQLite).
        connection = session.connection()
        dialect = connection.dialect
        process = c.__table__.c.last_inbound_at.type.bind_processor(dialect)
        cutoff = process(now - WINDOW) if process else now - WINDOW
        mark = {"qmark": "?", "format": "%s", "pyformat": "%s"}.get(dialect.paramstyle)
        if mark is None:  # pragma: no cover - every supported driver has one of these
            raise RuntimeError(f"unsupported paramstyle {dialect.paramstyle}")
        # A plain DB-API cursor: 200,000 identities load in a fraction of a second, where
        # ORM rows would take seconds. channel_id is an int, so inlining it is safe.
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(
                "SELECT id, address,"
                " CASE WHEN first_inbound_at IS NULL THEN 0 ELSE 1 END"
                " + CASE WHEN opted_out_at IS NULL THEN 0 ELSE 2 END"
                f" + CASE WHEN last_inbound_at > {mark} THEN 4 ELSE 0 END"
                f" FROM {table} WHERE channel_id = {int(channel_id)}",
                (cutoff,),
            )
            rows = cursor.fetchall()
            lookup_rows = []
            if lookups:
                cursor.execute(
                    f"SELECT address, username, phone FROM {table}"
                    f" WHERE channel_id = {int(channel_id)} ORDER BY id"
                )
                lookup_rows = cursor.fetchall()
        finally:
            cursor.close()
        n = len(rows)
        flags = np.fromiter((r[2] for r in rows), dtype=np.int8, count=n)
        index = cls(
            ids=np.fromiter((r[0] for r in rows), dtype=np.int64, count=n),
            addresses=pa.array([r[1] for r in rows], pa.string()),
            has_written=(flags & 1).astype(bool),
            opted_out=(flags & 2).astype(bool),
            window_open=(flags & 4).astype(bool),
        )
        by_address = (
            {address: p for p, address in enumerate(index.addresses.to_pylist())} if lookups else {}
        )
        for address, username, phone in lookup_rows:
            p = by_address[address]
            index.by_address.setdefault(address, p)
            if username:
                index.by_username.setdefault(username, p)
            if phone:
                index.by_phone.setdefault(phone, p)
        return index
