"""What the database knows about a channel's contacts, loaded in one query for a whole list.

A list is checked against every identity of the channel at once: the addresses go into an
Arrow array (hash lookups of a million values in C++), the facts eligibility needs —
has written (R3), opted out (R15), window open (R12) — into numpy arrays by position.

Matching follows :func:`hde_core.services.tickets.resolve_recipient` (the single-ticket
path), so a row and a ticket to the same person find the same identity: email and WhatsApp
by normalised address; Telegram by chat id, @username, or a phone the client shared; Viber
by id or shared phone. When several identities share a username or phone, the oldest wins.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa
from sqlalchemy import select
from sqlalchemy.orm import Session

from hde_core.db.models import ContactIdentity
from hde_core.domain.window import WINDOW, window_is_open


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
        rows = session.execute(
            select(
                c.id,
                c.address,
                c.username,
                c.phone,
                c.first_inbound_at.is_not(None),
                c.opted_out_at.is_not(None),
            )
            .where(c.channel_id == channel_id)
            .order_by(c.id)
        ).all()
        n = len(rows)
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=n)
        position = {int(i): p for p, i in enumerate(ids)}
        index = cls(
            ids=ids,
            addresses=pa.array([r[1] for r in rows], pa.string()),
            has_written=np.fromiter((bool(r[4]) for r in rows), dtype=bool, count=n),
            opted_out=np.fromiter((bool(r[5]) for r in rows), dtype=bool, count=n),
            window_open=np.zeros(n, dtype=bool),
        )
        # The window is open for few identities: fetch only recent inbound times (with a
        # day of margin) and decide each with the same rule as the single-ticket path.
        recent = session.execute(
            select(c.id, c.last_inbound_at).where(
                c.channel_id == channel_id,
                c.last_inbound_at.is_not(None),
                c.last_inbound_at >= now - WINDOW - timedelta(days=1),
            )
        ).all()
        for identity_id, last_inbound_at in recent:
            if window_is_open(last_inbound_at, now):
                index.window_open[position[int(identity_id)]] = True
        if lookups:
            for p, r in enumerate(rows):
                index.by_address.setdefault(r[1], p)
                if r[2]:
                    index.by_username.setdefault(r[2], p)
                if r[3]:
                    index.by_phone.setdefault(r[3], p)
        return index
