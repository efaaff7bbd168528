"""HDE Outreach console: the overview. Thin: every figure comes from hde_core (GROUP BY in the DB)."""

from __future__ import annotations

import streamlit as st

from hde_core.console import charts, current_lang, get_app, page, sandbox_mail, tr
from hde_core.console.live import live_view, refreshing_note
from hde_core.console.notices import flash, flash_error, show
from hde_core.domain.roles import Permission
from hde_core.errors import HdeError
from hde_core.services import live
from hde_core.services.conversation import analytics
from hde_core.services.dashboards import overview
from hde_core.services.health import health
from hde_core.services.live import View
from hde_core.services.messages import resend

user = page("nav.overview")
app = get_app()
first = overview(app)
shown = [first]
info = health(app)
if not info.schema_current:
    st.error(tr("home.schema_old"))


def rate(value: float | None, reported: bool) -> str:
    if not reported:
        return tr("charts.no_delivery_data")
    return f"{value:.0%}" if value is not None else "—"


def overview_view() -> live.Activity:
    """Today's figures, the statuses, rates and channels, redrawn in place while messages
    are being sent or wait for replies."""
    data = shown.pop() if shown else overview(app)
    col = st.columns(6)
    col[0].metric(tr("overview.tickets_today"), data.tickets_today)
    col[1].metric(tr("overview.tickets_week"), data.tickets_week)
    col[2].metric(tr("overview.messages_today"), sum(data.statuses_today.values()))
    col[3].metric(tr("overview.open_windows"), data.open_windows_total)
    col[4].metric(tr("overview.held"), data.held_total)
    col[5].metric(tr("overview.uncertain"), data.uncertain_total)
    replies = analytics.reply_overview(app)
    col = st.columns(6)
    col[0].metric(tr("reply_numbers.replies_today"), replies.replies_today)
    col[1].metric(tr("reply_numbers.waiting"), replies.waiting)
    activity = live.activity(app)
    refreshing_note(View.OVERVIEW, activity)

    left, right = st.columns(2)
    with left:
        st.subheader(tr("overview.statuses"))
        if data.statuses_week:
            charts.status_split(
                [
                    (tr("overview.period.today"), data.statuses_today),
                    (tr("overview.period.week"), data.statuses_week),
                ],
                key="overview_statuses",
            )
        else:
            st.info(tr("overview.no_messages"))
    with right:
        st.subheader(tr("overview.rates"))
        if data.rates:
            st.dataframe(
                [
                    {
                        tr("home.col.name"): r.channel,
                        tr("overview.col.handed"): r.handed_over,
                        tr("overview.col.delivery_rate"): rate(r.delivery_rate, r.reports_delivery),
                        tr("overview.col.read_rate"): rate(r.read_rate, r.reports_read),
                        tr("overview.col.failed"): r.failed,
                    }
                    for r in data.rates
                ],
                hide_index=True,
                key="overview_rates",
            )
        else:
            st.info(tr("overview.no_messages"))

    st.subheader(tr("overview.health"))
    if data.health:
        st.dataframe(
            [
                {
                    tr("home.col.name"): h.channel,
                    tr("home.col.kind"): tr(f"channels_page.kind.{h.kind}"),
                    tr("home.col.status"): (
                        tr(f"channel_status.{h.status}") if h.enabled else tr("overview.disabled")
                    ),
                    tr("overview.col.error"): h.error or "",
                    tr("overview.col.paused_until"): f"{h.paused_until.astimezone():%H:%M:%S}"
                    if h.paused_until
                    else "",
                    tr("overview.open_windows"): h.open_windows,
                    tr("overview.held"): h.held,
                }
                for h in data.health
            ],
            hide_index=True,
            key="overview_health",
        )
    else:
        st.info(tr("home.no_channels"))
    return activity


live_view(View.OVERVIEW, live.activity(app), overview_view)

data = first
st.subheader(tr("overview.uncertain_title"))
if data.uncertain:
    st.caption(tr("overview.uncertain_help"))
    st.dataframe(
        [
            {
                "#": u.message_id,
                tr("overview.col.ticket"): u.ticket_id,
                tr("home.col.name"): u.channel,
                tr("home.col.to"): u.recipient,
                tr("overview.col.since"): f"{u.since.astimezone():%Y-%m-%d %H:%M}",
            }
            for u in data.uncertain
        ],
        hide_index=True,
        key="overview_uncertain",
    )
    if user.can(Permission.RESEND_UNCERTAIN):

        def _resend() -> None:
            ids = st.session_state.get("overview_resend_ids") or []
            try:
                result = resend(app, ids, user.login)
            except HdeError as exc:
                flash_error("overview_resend", exc, current_lang())
                return
            flash(
                "overview_resend", "success", tr("overview.resend.done", count=len(result.resent))
            )
            for mid, why in result.refused.items():
                flash(
                    "overview_resend", "warning", tr("overview.resend.refused", id=mid, status=why)
                )
            st.session_state["overview_resend_ids"] = []

        labels = {
            u.message_id: f"#{u.message_id} · {u.channel} · {u.recipient}" for u in data.uncertain
        }
        st.session_state["overview_resend_ids"] = [
            i for i in st.session_state.get("overview_resend_ids") or [] if i in labels
        ]
        st.multiselect(
            tr("overview.resend.pick"),
            list(labels),
            format_func=labels.__getitem__,
            placeholder=tr("overview.resend.placeholder"),
            key="overview_resend_ids",
            select_all=False,  # Streamlit's "Select all" speaks English only
        )
        st.button(
            tr("overview.resend.button"),
            key="overview_resend",
            on_click=_resend,
            disabled=not st.session_state.get("overview_resend_ids"),
        )
else:
    st.success(tr("overview.no_uncertain"))
show("overview_resend")

sandbox_mail.mailbox(app)
st.caption(
    tr(
        "home.database",
        engine=tr(f"home.engine.{info.engine}"),
        schema=tr("home.schema_ok") if info.schema_current else tr("home.schema_outdated"),
    )
)
