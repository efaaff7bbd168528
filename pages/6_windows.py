"""24-hour windows (R12): whose window is open and for how long, and what waits for a reply.

The tables refresh themselves every 30 seconds in place while a window is open or a
message is held (so the countdown runs while the page is open), and not at all when
nothing is (:mod:`hde_core.console.live`).
"""

from __future__ import annotations

from functools import partial

import pandas as pd
import streamlit as st

from hde_core.console import get_app, page, tr
from hde_core.console.live import live_view
from hde_core.console.widgets import page_number
from hde_core.domain.roles import Permission
from hde_core.domain.window import WINDOW
from hde_core.services.delivery import export_bytes
from hde_core.services.live import Activity, View, windows_activity
from hde_core.services.windows import (
    CLOSING_SOON,
    OpenWindow,
    held_messages,
    open_windows,
    window_channels,
)

PAGE_SIZE = 50

user = page("nav.windows", Permission.VIEW)
app = get_app()

names = window_channels(app)
if not names:
    st.info(tr("windows_page.no_channels"))
    st.stop()

f1, f2, f3 = st.columns([2, 2, 1])
channels = f1.multiselect(
    tr("windows_page.filter.channels"),
    names,
    placeholder=tr("campaigns_page.filter.any"),
    key="wm_channels",
    select_all=False,  # Streamlit's "Select all" speaks English only
)
search = f2.text_input(tr("windows_page.filter.search"), key="wm_search")
soon_only = f3.checkbox(tr("windows_page.filter.soon"), key="wm_soon")


def left_words(seconds: int) -> str:
    hours, rest = divmod(max(0, seconds), 3600)
    return tr("windows_page.left", h=hours, m=f"{rest // 60:02d}")


SOON_STYLE = "background-color: #ffe3e3; color: #8a1c1c; font-weight: bold"
DAY_STYLE = "background-color: #fff3bf; color: #7a5b00"
LATER_STYLE = "background-color: #d3f9d8; color: #1b5e20"


def style_of(w: OpenWindow) -> str:
    """The countdown's colour: red within 2 h, amber within 6 h, green later."""
    if w.closing_soon:
        return SOON_STYLE
    return DAY_STYLE if w.seconds_left <= 6 * 3600 else LATER_STYLE


def windows_view() -> Activity:
    windows = partial(
        open_windows,
        app,
        channels=channels,
        search=search or None,
        closing_within=CLOSING_SOON if soon_only else None,
    )
    first = windows(limit=0)
    m = st.columns(3)
    m[0].metric(tr("windows_page.open"), first.total)
    m[1].metric(tr("windows_page.closing_soon"), first.closing_soon)
    held = held_messages(app, channels, search=search or None, limit=PAGE_SIZE)
    m[2].metric(tr("windows_page.held"), held.total)

    st.subheader(tr("windows_page.open_title"))
    pages = max(1, -(-first.total // PAGE_SIZE))
    page_no = page_number(tr("campaigns_page.page", pages=pages), pages, "wm_page")
    found = windows(limit=PAGE_SIZE, offset=(page_no - 1) * PAGE_SIZE)
    urgent = [w for w in found.rows if w.closing_soon][:5]
    if urgent:
        st.error(
            "\n\n".join(
                [tr("windows_page.urgent")]
                + [
                    f"**{left_words(w.seconds_left)}** — {w.contact} ({w.channel}, {w.address})"
                    for w in urgent
                ]
            ),
            icon=":material/timer:",
        )
    if found.rows:
        frame = pd.DataFrame(
            [
                {
                    tr("windows_page.col.left"): left_words(w.seconds_left),
                    tr("windows_page.col.share"): w.seconds_left / WINDOW.total_seconds(),
                    tr("windows_page.col.channel"): w.channel,
                    tr("windows_page.col.contact"): w.contact,
                    tr("windows_page.col.address"): w.address,
                    tr(
                        "windows_page.col.last_inbound"
                    ): f"{w.last_inbound_at.astimezone():%d.%m %H:%M}",
                    tr("windows_page.col.closes"): f"{w.closes_at.astimezone():%d.%m %H:%M}",
                    tr("windows_page.col.held"): w.held,
                }
                for w in found.rows
            ]
        )
        styles = [style_of(w) for w in found.rows]
        soon_rows = [w.closing_soon for w in found.rows]
        left_col = tr("windows_page.col.left")

        def paint(row: pd.Series) -> list[str]:
            if soon_rows[row.name]:  # the whole row of a window closing within 2 h
                return [
                    SOON_STYLE if c == left_col else "background-color: #fff5f5" for c in row.index
                ]
            return [styles[row.name] if c == left_col else "" for c in row.index]

        st.dataframe(
            frame.style.apply(paint, axis=1),
            hide_index=True,
            key="wm_windows",
            column_config={
                tr("windows_page.col.share"): st.column_config.ProgressColumn(
                    tr("windows_page.col.share"),
                    min_value=0.0,
                    max_value=1.0,
                    format="percent",
                    color="auto",
                )
            },
        )
        st.markdown(
            f":red-background[{tr('windows_page.legend_soon')}] · "
            f":orange-background[{tr('windows_page.legend_day')}] · "
            f":green-background[{tr('windows_page.legend_later')}] — {tr('windows_page.refresh')}"
        )
    else:
        st.info(tr("windows_page.none_open"))

    st.subheader(tr("windows_page.held_title"))
    st.caption(tr("windows_page.held_help"))
    if held.rows:
        st.dataframe(
            [
                {
                    "#": h.message_id,
                    tr("windows_page.col.ticket"): h.ticket_id,
                    tr("windows_page.col.channel"): h.channel,
                    tr("windows_page.col.contact"): h.contact,
                    tr("windows_page.col.address"): h.recipient,
                    tr("windows_page.col.held_since"): f"{h.held_since.astimezone():%d.%m %H:%M}",
                    tr("windows_page.col.template"): tr(f"status.{h.template_status}")
                    if h.template_status
                    else "—",
                    tr("windows_page.col.window"): tr("windows_page.window_open")
                    if h.window_open
                    else tr("windows_page.window_closed"),
                }
                for h in held.rows
            ],
            hide_index=True,
            key="wm_held",
        )
    else:
        st.success(tr("windows_page.none_held"))
    return windows_activity(app)


live_view(View.WINDOWS, windows_activity(app), windows_view)

st.subheader(tr("windows_page.export"))
e1, e2 = st.columns(2)
if e1.button(tr("windows_page.export_windows"), key="wm_export_windows"):
    rows = open_windows(
        app,
        channels,
        search=search or None,
        closing_within=CLOSING_SOON if soon_only else None,
        limit=None,
    ).rows
    st.session_state["wm_file"] = (
        "open-windows.csv",
        export_bytes(
            [
                tr("windows_page.col.channel"),
                tr("windows_page.col.contact"),
                tr("windows_page.col.address"),
                tr("windows_page.col.last_inbound"),
                tr("windows_page.col.closes"),
                tr("windows_page.col.minutes_left"),
                tr("windows_page.col.held"),
            ],
            (
                (
                    w.channel,
                    w.contact,
                    w.address,
                    w.last_inbound_at.isoformat(),
                    w.closes_at.isoformat(),
                    w.seconds_left // 60,
                    w.held,
                )
                for w in rows
            ),
        ),
    )
if e2.button(tr("windows_page.export_held"), key="wm_export_held"):
    held_rows = held_messages(app, channels, search=search or None, limit=None).rows
    st.session_state["wm_file"] = (
        "held-messages.csv",
        export_bytes(
            [
                "message_id",
                "ticket_id",
                tr("windows_page.col.channel"),
                tr("windows_page.col.contact"),
                tr("windows_page.col.address"),
                tr("windows_page.col.held_since"),
                tr("windows_page.col.template"),
            ],
            (
                (
                    h.message_id,
                    h.ticket_id,
                    h.channel,
                    h.contact,
                    h.recipient,
                    h.held_since.isoformat(),
                    h.template_status or "",
                )
                for h in held_rows
            ),
        ),
    )
ready = st.session_state.get("wm_file")
if ready:
    st.download_button(
        tr("campaigns_page.download"), ready[1], file_name=ready[0], key="wm_download"
    )
