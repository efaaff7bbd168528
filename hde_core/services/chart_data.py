"""What the console's charts say, decided once for all of them (issue 16.6).

- **One colour per status**, whatever the chart, the order of the rows or the render: a
  fixed table, and a fixed stacking order (the furthest a message got first).
- **Whole-number count axes**: a tick step of 1, 2, 5, 10, 20, 50 … (never 0.2 or 0.5).
- **Time axes in whole buckets** with labels in the user's language ("6 дек 14:00"): the
  range is the buckets shown, never plotly's guess around a single point (which gave
  "23:59:59.9996 … 00:00:00.0004" and an English month in the Russian console).

The figures themselves are drawn by :mod:`hde_core.console.charts`; these rules are
plain data so that a test can hold every chart to them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from hde_core.domain.statuses import MessageStatus
from hde_core.i18n import t

S = MessageStatus

#: Legend and stacking order: the furthest a message got first, then what still waits,
#: then what went wrong.
STATUS_ORDER: tuple[str, ...] = (
    S.READ.value,
    S.DELIVERED.value,
    S.SENT.value,
    S.SENDING.value,
    S.QUEUED.value,
    S.RETRYING.value,
    S.HELD.value,
    S.UNCERTAIN.value,
    S.FAILED.value,
    S.CANCELLED.value,
)

#: One colour per status, the same on every chart and every render: greens for how far
#: a message got, blues for what is under way, amber for waiting, red and grey for the end.
STATUS_COLOURS: dict[str, str] = {
    S.READ.value: "#1b6e2d",
    S.DELIVERED.value: "#2f9e44",
    S.SENT.value: "#8ce99a",
    S.SENDING.value: "#4c9be8",
    S.QUEUED.value: "#a5d8ff",
    S.RETRYING.value: "#f59f00",
    S.HELD.value: "#ffd43b",
    S.UNCERTAIN.value: "#ae3ec9",
    S.FAILED.value: "#d64545",
    S.CANCELLED.value: "#868e96",
}
#: A status the table does not know (never expected): one neutral colour, not a random one.
OTHER_COLOUR = "#495057"

BUCKETS: dict[str, timedelta] = {"hour": timedelta(hours=1), "day": timedelta(days=1)}


def status_colour(status: str) -> str:
    return STATUS_COLOURS.get(status, OTHER_COLOUR)


def status_rank(status: str) -> int:
    """Position in :data:`STATUS_ORDER` (unknown statuses last)."""
    try:
        return STATUS_ORDER.index(status)
    except ValueError:
        return len(STATUS_ORDER)


def count_step(largest: float, ticks: int = 5) -> int:
    """A whole-number tick step from 1, 2, 5, 10, 20, 50 … that reaches ``largest`` in at
    most ``ticks`` steps (1 for anything up to ``ticks``)."""
    if largest <= ticks:
        return 1
    raw = largest / ticks
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if factor * power >= raw:
            return int(factor * power)
    return int(10 * power)  # pragma: no cover - the loop always returns


def count_top(largest: float, ticks: int = 5) -> int:
    """The top of a count axis: the first whole step at or above ``largest`` (at least 1)."""
    step = count_step(largest, ticks)
    return max(step, int(math.ceil(largest / step)) * step)


@dataclass(frozen=True)
class TimeAxis:
    """A time axis in whole buckets, as wall-clock times without a zone (what is shown).

    ``start``/``end`` bound the buckets shown; ``ticks`` are bucket middles (where the bars
    stand) and ``labels`` their words."""

    bucket: str
    start: datetime
    end: datetime
    ticks: list[datetime]
    labels: list[str]

    @property
    def span(self) -> timedelta:
        return BUCKETS[self.bucket]


def wall_slot(value: datetime | date | str, bucket: str) -> datetime:
    """The start of a bucket as shown: an hour in the console's local time; a day as the
    database counted it (UTC). Accepts a datetime, a date or an ISO string."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day)
    if bucket == "day":
        day = value.astimezone(UTC) if value.tzinfo else value
        return datetime(day.year, day.month, day.day)
    local = value.astimezone() if value.tzinfo else value.replace(tzinfo=UTC).astimezone()
    return local.replace(minute=0, second=0, microsecond=0, tzinfo=None)


def slot_label(when: datetime, bucket: str, lang: str | None = None) -> str:
    """ "6 дек 14:00" / "Dec 6, 14:00" for an hour, "6 дек" / "Dec 6" for a day."""
    month = t(f"charts.month.{when.month}", lang=lang)
    if bucket == "day":
        return t("charts.slot.day", lang=lang, day=when.day, month=month)
    return t("charts.slot.hour", lang=lang, day=when.day, month=month, time=f"{when:%H:%M}")


def time_axis(
    slots: Sequence[datetime], bucket: str, lang: str | None = None, max_ticks: int = 8
) -> TimeAxis:
    """Whole buckets from the first slot to the last (one slot: exactly one bucket), with
    at most ``max_ticks`` labelled bucket middles."""
    span = BUCKETS[bucket]
    first, last = min(slots), max(slots)
    count = round((last - first) / span) + 1
    every = max(1, math.ceil(count / max_ticks))
    ticks = [first + span * i + span / 2 for i in range(0, count, every)]
    return TimeAxis(
        bucket=bucket,
        start=first,
        end=last + span,
        ticks=ticks,
        labels=[slot_label(x - span / 2, bucket, lang) for x in ticks],
    )
