"""Delivery charts shared by the overview, the campaigns page, the bulk run's progress and
the audit-and-delivery page.

Each ``*_figure`` function takes rows already aggregated by the database
(:mod:`hde_core.services.dashboards`, :mod:`hde_core.services.delivery`) and builds a
plotly figure by the rules of :mod:`hde_core.services.chart_data` (a colour per status,
whole-number count axes, time axes in whole buckets with localised labels); nothing here
counts or groups rows. The figures take the language as an argument so tests can read
them; the drawing functions put them on the page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from hde_core.console import current_lang, tr
from hde_core.i18n import t
from hde_core.services.chart_data import (
    STATUS_ORDER,
    count_step,
    count_top,
    slot_label,
    status_colour,
    time_axis,
    wall_slot,
)

STAGES = ("queued", "sent", "delivered", "read")
#: Plotly's decimal and thousands separators per language ("1 234,5" in Russian).
SEPARATORS = {"ru": ", ", "en": ".,"}
#: The legend sits above the plot area (plotly widens the top margin for it), never on
#: the axes.
LEGEND = {
    "orientation": "h",
    "yanchor": "bottom",
    "y": 1.02,
    "xanchor": "left",
    "x": 0,
    "traceorder": "normal",  # plotly reverses stacked bars by default: one order everywhere
}
CONFIG = {"displaylogo": False}


def _layout(fig: go.Figure, lang: str, height: int) -> go.Figure:
    fig.update_layout(
        height=height,
        margin={"l": 0, "r": 0, "t": 30, "b": 0},
        legend=LEGEND,
        separators=SEPARATORS.get(lang, "."),
    )
    return fig


def count_axis(largest: float) -> dict[str, Any]:
    """A count axis with whole-number ticks from 0 (1, 2, 5, 10 … apart)."""
    return {
        "tick0": 0,
        "dtick": count_step(largest),
        "tickformat": "d",
        # a little room above the top tick, so that it is drawn, not clipped at the edge
        "range": [0, count_top(largest) * 1.04],
        "automargin": True,
    }


def _status_word(status: str, lang: str) -> str:
    return t(f"status.{status}", lang=lang)


# -- figures ------------------------------------------------------------------------------------


def funnel_figure(rows: Sequence[Mapping[str, Any]], lang: str) -> go.Figure:
    """queued → sent → delivered → read, one funnel per channel, each stage in its status
    colour. A channel that cannot report delivery (email, Telegram) ends at "sent" and says
    "no delivery data" instead of showing 0 %."""
    titles = []
    stages_of = []
    for row in rows:
        stages = ["queued", "sent"]
        if row.get("reports_delivery", True):
            stages.append("delivered")
        if row.get("reports_read", True):
            stages.append("read")
        stages_of.append(stages)
        title = str(row["channel"])
        if not row.get("reports_delivery", True):
            title += " · " + t("charts.no_delivery_data", lang=lang)
        titles.append(title)
    fig = make_subplots(
        rows=max(1, len(rows)),
        cols=1,
        subplot_titles=titles,
        vertical_spacing=0.12,
        row_heights=[len(stages) for stages in stages_of] or None,  # a stage is a stage tall
    )
    for i, (row, stages) in enumerate(zip(rows, stages_of, strict=True), start=1):
        fig.add_trace(
            go.Funnel(
                name=str(row["channel"]),
                y=[t(f"campaigns_page.chart.stage.{s}", lang=lang) for s in stages],
                x=[int(row[s]) for s in stages],
                marker={"color": [status_colour(s) for s in stages]},
                textinfo="value+percent initial",
                showlegend=False,
            ),
            row=i,
            col=1,
        )
    fig.update_yaxes(automargin=True)
    fig.update_xaxes(visible=False)
    height = 40 + sum(60 + 34 * len(s) for s in stages_of)
    return _layout(fig, lang, height)


def over_time_figure(
    rows: Sequence[Mapping[str, Any]], x: str, lang: str, bucket: str = "hour"
) -> go.Figure:
    """Stacked bars per time bucket and status. Each message is counted once (the rows say
    how many messages are in a bucket under their current status), so a bar is as tall as
    the messages it stands for; buckets are whole hours (or days), labelled in ``lang``."""
    counts: dict[tuple[Any, str], int] = {}
    for r in rows:
        key = (wall_slot(r[x], bucket), str(r["status"]))
        counts[key] = counts.get(key, 0) + int(r["count"])
    slots = sorted({slot for slot, _ in counts})
    axis = time_axis(slots, bucket, lang)
    span = axis.span
    fig = go.Figure()
    present = {status for _, status in counts}
    for status in sorted(present, key=lambda s: (STATUS_ORDER + (s,)).index(s)):
        points = [(slot, n) for (slot, s), n in sorted(counts.items()) if s == status]
        fig.add_trace(
            go.Bar(
                name=_status_word(status, lang),
                x=[(slot + span / 2).isoformat() for slot, _ in points],
                y=[n for _, n in points],
                width=[span.total_seconds() * 1000 * 0.8] * len(points),
                marker_color=status_colour(status),
                # plotly would name the hovered date in English: our words instead
                customdata=[slot_label(slot, bucket, lang) for slot, _ in points],
                hovertemplate="%{customdata}<br>%{fullData.name}: %{y}<extra></extra>",
            )
        )
    totals: dict[Any, int] = {}
    for (slot, _), n in counts.items():
        totals[slot] = totals.get(slot, 0) + n
    fig.update_layout(
        barmode="stack",
        xaxis={
            "type": "date",
            "range": [axis.start.isoformat(), axis.end.isoformat()],
            "tickmode": "array",
            "tickvals": [tick.isoformat() for tick in axis.ticks],
            "ticktext": axis.labels,
            "automargin": True,
        },
        yaxis=count_axis(max(totals.values(), default=0)),
    )
    return _layout(fig, lang, 340)


def status_split_figure(
    groups: Sequence[tuple[str, Mapping[str, int]]], lang: str, axis: bool = True
) -> go.Figure:
    """One horizontal bar per group (a period, a campaign), split by status in the fixed
    order and colours (``axis=False``: a bare bar, as under a progress line)."""
    fig = go.Figure()
    labels = [label for label, _ in groups]
    present = {s for _, counts in groups for s, n in counts.items() if n}
    for status in sorted(present, key=lambda s: (STATUS_ORDER + (s,)).index(s)):
        fig.add_trace(
            go.Bar(
                name=_status_word(status, lang),
                y=labels,
                x=[int(counts.get(status, 0)) for _, counts in groups],
                orientation="h",
                marker_color=status_colour(status),
            )
        )
    largest = max((sum(c.values()) for _, c in groups), default=0)
    fig.update_layout(
        barmode="stack",
        xaxis=count_axis(largest) | {"visible": axis},
        yaxis={"autorange": "reversed", "automargin": True, "visible": axis},
    )
    return _layout(fig, lang, (70 if axis else 50) + 45 * max(1, len(groups)))


def failure_figure(rows: Sequence[Mapping[str, Any]], lang: str) -> go.Figure:
    labels = []
    for r in rows:
        words = t(f"campaigns_page.chart.error.{r['error_class']}", lang=lang)
        code = r["code"]  # the provider's code in words, not "· 400" (issue 16.8)
        labels.append(t("words.error_with_code", lang, what=words, code=code) if code else words)
    fig = go.Figure(
        go.Bar(
            x=[int(r["count"]) for r in rows],
            y=labels,
            orientation="h",
            marker_color=status_colour("failed"),
            hovertext=[
                f"{t('campaigns_page.error_class.' + r['error_class'], lang=lang)}: {r['example']}"
                for r in rows
            ],
        )
    )
    fig.update_layout(
        xaxis=count_axis(max((int(r["count"]) for r in rows), default=0)),
        yaxis={"autorange": "reversed", "automargin": True},
    )
    return _layout(fig, lang, 320)


def times_figure(rows: Sequence[Mapping[str, Any]], lang: str) -> go.Figure:
    """Average minutes from sent to delivered and to read, per channel that reports them."""
    fig = go.Figure()
    for field, status in (("to_delivered_s", "delivered"), ("to_read_s", "read")):
        fig.add_trace(
            go.Bar(
                name=t(f"campaigns_page.chart.{field}", lang=lang),
                x=[r["channel"] for r in rows],
                y=[round((r[field] or 0) / 60, 1) for r in rows],
                marker_color=status_colour(status),
            )
        )
    fig.update_layout(
        barmode="group",
        yaxis={
            "title": t("campaigns_page.chart.minutes", lang=lang),
            "rangemode": "tozero",
            "automargin": True,
        },
    )
    return _layout(fig, lang, 320)


# -- on the page ----------------------------------------------------------------------------------


def _show(fig: go.Figure, key: str) -> None:
    st.plotly_chart(fig, key=key, config=CONFIG)


def funnel(rows: Sequence[Mapping[str, Any]], key: str) -> None:
    st.markdown(f"**{tr('campaigns_page.chart.funnel')}**")
    if not rows:
        st.info(tr("campaigns_page.chart.no_data"))
        return
    _show(funnel_figure(rows, current_lang()), key)


def statuses_over_time(
    rows: Sequence[Mapping[str, Any]], x: str, key: str, title: str, bucket: str = "hour"
) -> None:
    st.markdown(f"**{title}**")
    if not rows:
        st.info(tr("campaigns_page.chart.no_data"))
        return
    _show(over_time_figure(rows, x, current_lang(), bucket), key)


def failure_reasons(rows: Sequence[Mapping[str, Any]], key: str) -> None:
    st.markdown(f"**{tr('campaigns_page.chart.failures')}**")
    if not rows:
        st.success(tr("campaigns_page.chart.no_failures"))
        return
    _show(failure_figure(rows, current_lang()), key)


def delivery_times(rows: Sequence[Mapping[str, Any]], key: str) -> None:
    """Average minutes from sent to delivered and to read, per channel; channels that
    cannot report delivery are named as such instead of a bar of zero."""
    st.markdown(f"**{tr('campaigns_page.chart.times')}**")
    silent = [r["channel"] for r in rows if not r.get("reports_delivery", True)]
    rows = [r for r in rows if r["to_delivered_s"] is not None or r["to_read_s"] is not None]
    if rows:
        _show(times_figure(rows, current_lang()), key)
    else:
        st.info(tr("campaigns_page.chart.no_times"))
    if silent:
        st.caption(tr("charts.no_delivery_data_for", channels=", ".join(silent)))


def status_split(
    groups: Sequence[tuple[str, Mapping[str, int]]], key: str, axis: bool = True
) -> None:
    _show(status_split_figure(groups, current_lang(), axis), key)


def delivery_grid(
    funnel_rows: Sequence[Mapping[str, Any]],
    time_rows: Sequence[Mapping[str, Any]],
    failure_rows: Sequence[Mapping[str, Any]],
    times_rows: Sequence[Mapping[str, Any]],
    *,
    time_x: str,
    time_title: str,
    key: str,
    bucket: str = "hour",
) -> None:
    """The four delivery charts, two by two."""
    top = st.columns(2)
    with top[0]:
        funnel(funnel_rows, f"{key}_funnel")
    with top[1]:
        statuses_over_time(time_rows, time_x, f"{key}_statuses", time_title, bucket)
    bottom = st.columns(2)
    with bottom[0]:
        failure_reasons(failure_rows, f"{key}_failures")
    with bottom[1]:
        delivery_times(times_rows, f"{key}_times")
