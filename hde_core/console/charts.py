"""Delivery charts shared by the campaigns page and the audit-and-delivery page.

Each function takes rows already aggregated by the database
(:mod:`hde_core.services.dashboards`, :mod:`hde_core.services.delivery`) and draws
them with plotly; nothing here counts or groups rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from hde_core.console import tr

STAGES = ("queued", "sent", "delivered", "read")
#: One colour per status, the same on every chart.
STATUS_COLOURS = {
    "queued": "#9aa5b1",
    "sending": "#7b8794",
    "sent": "#4c9be8",
    "delivered": "#2f9e44",
    "read": "#1b6e2d",
    "held": "#f0a202",
    "retrying": "#f59f00",
    "failed": "#d64545",
    "uncertain": "#ae3ec9",
    "cancelled": "#616e7c",
}
_LAYOUT = {"height": 320, "margin": {"l": 0, "r": 0, "t": 30, "b": 0}, "legend_orientation": "h"}


def funnel(rows: Sequence[dict[str, Any]], key: str) -> None:
    """queued → sent → delivered → read, one funnel per channel."""
    st.markdown(f"**{tr('campaigns_page.chart.funnel')}**")
    if not rows:
        st.info(tr("campaigns_page.chart.no_data"))
        return
    labels = [tr(f"campaigns_page.chart.stage.{s}") for s in STAGES]
    fig = go.Figure()
    for row in rows:
        fig.add_trace(
            go.Funnel(
                name=row["channel"],
                y=labels,
                x=[row[s] for s in STAGES],
                textinfo="value+percent initial",
            )
        )
    fig.update_layout(**_LAYOUT)
    st.plotly_chart(fig, key=key)


def statuses_over_time(rows: Sequence[dict[str, Any]], x: str, key: str, title: str) -> None:
    """Stacked bars of counts per time slot and status (``x`` names the time column)."""
    st.markdown(f"**{title}**")
    if not rows:
        st.info(tr("campaigns_page.chart.no_data"))
        return
    fig = go.Figure()
    for status in STATUS_COLOURS:
        points = [r for r in rows if r["status"] == status]
        if points:
            fig.add_trace(
                go.Bar(
                    name=tr(f"status.{status}"),
                    x=[_local(p[x]) for p in points],
                    y=[p["count"] for p in points],
                    marker_color=STATUS_COLOURS[status],
                )
            )
    fig.update_layout(barmode="stack", **_LAYOUT)
    st.plotly_chart(fig, key=key)


def failure_reasons(rows: Sequence[dict[str, Any]], key: str) -> None:
    st.markdown(f"**{tr('campaigns_page.chart.failures')}**")
    if not rows:
        st.success(tr("campaigns_page.chart.no_failures"))
        return
    labels = [
        f"{tr('campaigns_page.chart.error.' + r['error_class'])} · {r['code']}".strip(" ·")
        for r in rows
    ]
    fig = go.Figure(
        go.Bar(
            x=[r["count"] for r in rows],
            y=labels,
            orientation="h",
            marker_color=STATUS_COLOURS["failed"],
            hovertext=[
                f"{tr('campaigns_page.error_class.' + r['error_class'])}: {r['example']}"
                for r in rows
            ],
        )
    )
    fig.update_layout(yaxis={"autorange": "reversed", "automargin": True}, **_LAYOUT)
    st.plotly_chart(fig, key=key)


def delivery_times(rows: Sequence[dict[str, Any]], key: str) -> None:
    """Average minutes from sent to delivered and to read, per channel."""
    st.markdown(f"**{tr('campaigns_page.chart.times')}**")
    rows = [r for r in rows if r["to_delivered_s"] is not None or r["to_read_s"] is not None]
    if not rows:
        st.info(tr("campaigns_page.chart.no_times"))
        return
    fig = go.Figure()
    for field, colour in (("to_delivered_s", "delivered"), ("to_read_s", "read")):
        fig.add_trace(
            go.Bar(
                name=tr(f"campaigns_page.chart.{field}"),
                x=[r["channel"] for r in rows],
                y=[round((r[field] or 0) / 60, 1) for r in rows],
                marker_color=STATUS_COLOURS[colour],
            )
        )
    fig.update_layout(barmode="group", yaxis_title=tr("campaigns_page.chart.minutes"), **_LAYOUT)
    st.plotly_chart(fig, key=key)


def _local(value: Any) -> Any:
    """Datetimes in the console's local time; day strings as they are."""
    return value.astimezone() if hasattr(value, "astimezone") else value


def delivery_grid(
    funnel_rows: Sequence[dict[str, Any]],
    time_rows: Sequence[dict[str, Any]],
    failure_rows: Sequence[dict[str, Any]],
    times_rows: Sequence[dict[str, Any]],
    *,
    time_x: str,
    time_title: str,
    key: str,
) -> None:
    """The four delivery charts, two by two."""
    top = st.columns(2)
    with top[0]:
        funnel(funnel_rows, f"{key}_funnel")
    with top[1]:
        statuses_over_time(time_rows, time_x, f"{key}_statuses", time_title)
    bottom = st.columns(2)
    with bottom[0]:
        failure_reasons(failure_rows, f"{key}_failures")
    with bottom[1]:
        delivery_times(times_rows, f"{key}_times")
