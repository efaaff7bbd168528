"""Charts tell the truth (issue 16.6), read on the figure objects the console draws: a single
time bucket gives a whole hour (or day) with a label in the user's language, each message
is counted once, count axes tick in whole numbers, a status has one colour on every chart
and every render, a channel without receipts says so instead of 0 %, and the legend sits
above the plot."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import pytest

from hde_core.console import charts
from hde_core.dispatch.immediate import initiate_ticket
from hde_core.services.chart_data import (
    STATUS_COLOURS,
    STATUS_ORDER,
    count_step,
    slot_label,
    time_axis,
    wall_slot,
)
from hde_core.services.tickets import TicketRequest
from tests.console.conftest import run_page
from tests.services.helpers import provision_email

AT = datetime(2026, 12, 6, 23, 0, tzinfo=UTC)
#: The seven messages of the issue: one per status they got furthest to, in one hour.
SEVEN = [
    {"time": AT, "status": s, "count": 1}
    for s in ("read", "delivered", "sent", "failed", "held", "queued", "cancelled")
]


def colours(fig) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {trace.name: trace.marker.color for trace in fig.data}


def ticks_of(axis) -> list[float]:  # type: ignore[no-untyped-def]
    """The values plotly will tick at on a linear count axis (tick0 + k · dtick up to the top)."""
    top = int(axis.range[1])
    return [axis.tick0 + k * axis.dtick for k in range(int(top // axis.dtick) + 1)]


def test_one_bucket_is_a_whole_hour_labelled_in_russian():
    fig = charts.over_time_figure(SEVEN, "time", "ru")
    x = fig.layout.xaxis
    start, end = (datetime.fromisoformat(v) for v in x.range)
    assert end - start == timedelta(hours=1)  # not ±0.5 ms around one point
    local = AT.astimezone()
    assert start == local.replace(tzinfo=None)
    assert list(x.tickvals) == [(start + timedelta(minutes=30)).isoformat()]
    assert list(x.ticktext) == [f"{local.day} {RU_MONTHS[local.month - 1]} {local:%H}:00"]
    assert x.tickmode == "array"  # no automatic sub-second ticks
    # the bars stand in the middle of their hour and fill most of it
    assert all(
        tr.width[0] == pytest.approx(0.8 * 3600 * 1000) and tr.x[0] == x.tickvals[0]
        for tr in fig.data
    )


RU_MONTHS = ["янв", "фев", "мар", "апр", "мая", "июн", "июл", "авг", "сен", "окт", "ноя", "дек"]


def test_one_day_bucket_and_english_labels():
    rows = [{"day": "2026-12-06", "status": "sent", "count": 3}]
    fig = charts.over_time_figure(rows, "day", "en", bucket="day")
    start, end = (datetime.fromisoformat(v) for v in fig.layout.xaxis.range)
    assert (start, end) == (datetime(2026, 12, 6), datetime(2026, 12, 7))
    assert list(fig.layout.xaxis.ticktext) == ["Dec 6"]
    assert slot_label(datetime(2026, 12, 6, 14), "hour", "ru") == "6 дек 14:00"
    assert slot_label(datetime(2026, 1, 31, 9), "hour", "en") == "Jan 31, 09:00"


def test_many_buckets_are_labelled_sparsely_and_span_whole_hours():
    first = datetime(2026, 12, 1, 0, 0)
    slots = [first + timedelta(hours=h) for h in range(0, 48, 3)]
    axis = time_axis(slots, "hour", "ru", max_ticks=8)
    assert axis.start == first and axis.end == slots[-1] + timedelta(hours=1)
    assert len(axis.ticks) <= 8
    assert all((t - first) % timedelta(minutes=30) == timedelta(0) for t in axis.ticks)


def test_each_message_is_counted_once_and_the_total_is_the_number_of_messages():
    fig = charts.over_time_figure(SEVEN, "time", "ru")
    assert sum(sum(trace.y) for trace in fig.data) == 7  # the bar of 16 is gone
    assert fig.layout.barmode == "stack"
    per_status = {trace.name: list(trace.y) for trace in fig.data}
    assert per_status["прочитано"] == [1] and per_status["отменено"] == [1]


def test_count_axes_tick_in_whole_numbers():
    for largest in (0, 1, 2, 3, 7, 16, 99, 4580, 123_456):
        step = count_step(largest)
        assert step >= 1 and isinstance(step, int)
        assert str(step).strip("0") in ("1", "2", "5")
        assert largest / step <= 5 or largest <= 5
    fig = charts.over_time_figure(SEVEN, "time", "ru")
    y = fig.layout.yaxis
    assert y.tickformat == "d" and y.dtick == 2 and list(y.range) == [0, pytest.approx(8 * 1.04)]
    assert all(float(v).is_integer() for v in ticks_of(y))
    assert ticks_of(y)[-1] >= 7
    split = charts.status_split_figure([("", {"sent": 54, "cancelled": 4526})], "ru")
    assert all(float(v).is_integer() for v in ticks_of(split.layout.xaxis))
    assert split.layout.xaxis.dtick == 1000
    failures = charts.failure_figure(
        [{"error_class": "transient", "code": "", "example": "x", "count": 3}], "ru"
    )
    assert failures.layout.xaxis.dtick == 1 and failures.layout.xaxis.tickformat == "d"


def test_a_status_has_one_colour_on_every_chart_and_every_render():
    first = colours(charts.over_time_figure(SEVEN, "time", "ru"))
    again = colours(charts.over_time_figure(list(reversed(SEVEN[:3])), "time", "ru"))
    assert all(first[name] == colour for name, colour in again.items())
    split = colours(
        charts.status_split_figure(
            [("сегодня", {"failed": 2, "read": 1}), ("неделя", {"sent": 5, "read": 4})], "ru"
        )
    )
    assert split["прочитано"] == first["прочитано"] == STATUS_COLOURS["read"]
    assert split["ошибка"] == first["ошибка"] == STATUS_COLOURS["failed"]
    funnel = charts.funnel_figure(
        [{"channel": "wa", "queued": 4, "sent": 3, "delivered": 2, "read": 1}], "ru"
    )
    assert list(funnel.data[0].marker.color) == [
        STATUS_COLOURS[s] for s in ("queued", "sent", "delivered", "read")
    ]
    # the legend follows one order, the furthest status first, whatever the rows' order
    names = [trace.name for trace in charts.over_time_figure(SEVEN[::-1], "time", "en").data]
    assert names == [
        s for s in ("read", "delivered", "sent", "queued", "held", "failed", "cancelled")
    ]
    assert len(set(STATUS_COLOURS.values())) == len(STATUS_ORDER)  # no two statuses alike


def test_email_only_says_no_delivery_data_instead_of_zero_percent():
    rows = [
        {
            "channel": "email",
            "queued": 5,
            "sent": 5,
            "delivered": 0,
            "read": 0,
            "failed": 0,
            "reports_delivery": False,
            "reports_read": False,
        }
    ]
    fig = charts.funnel_figure(rows, "ru")
    assert list(fig.data[0].x) == [5, 5]  # queued → sent, and no 0 % stages after it
    assert list(fig.data[0].y) == ["в очереди", "отправлено"]
    assert [a.text for a in fig.layout.annotations] == ["email · нет данных о доставке"]


def test_the_legend_sits_above_the_plot_not_on_the_axes():
    for fig in (
        charts.over_time_figure(SEVEN, "time", "ru"),
        charts.status_split_figure([("", {"sent": 1})], "ru"),
        charts.times_figure([{"channel": "wa", "to_delivered_s": 60.0, "to_read_s": 120.0}], "ru"),
    ):
        legend = fig.layout.legend
        assert legend.orientation == "h" and legend.y >= 1 and legend.yanchor == "bottom"
        assert legend.traceorder == "normal"  # not reversed for stacked bars
        assert fig.layout.separators == ", "  # "1 234,5" in Russian


def test_day_buckets_follow_the_databases_day_and_hours_the_consoles_clock():
    late = datetime(2026, 12, 6, 23, 30, tzinfo=UTC)
    assert wall_slot(late, "day") == datetime(2026, 12, 6)
    local = late.astimezone()
    assert wall_slot(late, "hour") == local.replace(minute=0, tzinfo=None)
    assert math.isclose(
        (wall_slot("2026-12-06 23:00:00", "hour") - wall_slot(AT, "hour")).total_seconds(), 0
    )


@pytest.mark.db
def test_overview_says_no_delivery_data_for_email_and_draws_fixed_colours(
    console_app, tmp_path, smtp_sink
):
    provision_email(console_app, tmp_path, smtp_sink.url)
    initiate_ticket(
        console_app,
        TicketRequest("email", "a@example.com", "Тема", "b", fields={"order_id": "1"}),
        "alice",
    )
    at = run_page("app.py", role="viewer")
    assert not at.exception
    rates = at.dataframe[0].value
    # email has no receipts: not "Доставлено 0 % / Прочитано 0 %"
    assert list(rates["Доставлено"]) == ["нет данных о доставке"]
    assert list(rates["Прочитано"]) == ["нет данных о доставке"]
    (split,) = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    bars = {t["name"]: (t["marker"]["color"], t["x"]) for t in split["data"]}
    assert bars == {"отправлено": (STATUS_COLOURS["sent"], [1, 1])}  # today, 7 days
    # nothing is being sent or held: the overview sets no timer and says nothing about it
    assert not [c for c in at.caption if "Обновляется само" in c.value]
