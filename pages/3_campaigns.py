"""Campaigns: the list, one campaign's charts and controls, and its recipients one by one."""

from __future__ import annotations

from typing import TypedDict

import streamlit as st

from hde_core.console import charts, current_lang, formatter, get_app, page, tr
from hde_core.console.controls import Controls, campaign_controls
from hde_core.console.live import live_view, refreshing_note
from hde_core.console.notices import show
from hde_core.console.widgets import optional_select, page_number
from hde_core.domain.roles import Permission
from hde_core.domain.statuses import MessageStatus
from hde_core.services import campaigns, dashboards, live
from hde_core.services.conversation import analytics
from hde_core.services.delivery import (
    campaign_choices,
    campaign_recipients,
    export_bytes,
    iter_campaign_recipients,
    statuses_over_time,
)
from hde_core.services.live import View

PAGE_SIZE = 50

user = page("nav.campaigns", Permission.VIEW)
CONTROLS = Controls(
    prefix="cp", texts="campaigns_page", sure="campaigns_page.cancel_confirm", slot="cp"
)
app = get_app()
lang = current_lang()

choices = campaign_choices(app)
if not choices:
    st.info(tr("campaigns_page.none"))
    st.stop()
known = {c.id for c in choices}


def campaign_list() -> live.Activity:
    """Every campaign with its status; a new campaign reruns the page (the picker needs it)."""
    now = campaign_choices(app)
    if {c.id for c in now} != known:
        st.rerun()
    st.dataframe(
        [
            {
                tr("campaigns_page.col.campaign"): c.name or c.key,
                tr("campaigns_page.col.key"): c.key,
                tr("campaigns_page.col.status"): tr(f"cli.campaign.status.{c.status}"),
                tr("campaigns_page.col.messages"): c.messages,
                tr("campaigns_page.col.created"): f"{c.created_at.astimezone():%Y-%m-%d %H:%M}",
            }
            for c in now
        ],
        hide_index=True,
        key="cp_list",
    )
    return live.campaigns_activity(c.status for c in now)


live_view(View.CAMPAIGN, live.campaigns_activity(c.status for c in choices), campaign_list)

labels = {c.id: f"{c.name or c.key} · {c.key}" for c in choices}
campaign_id = st.selectbox(
    tr("campaigns_page.pick"), list(labels), format_func=labels.__getitem__, key="cp_campaign"
)
chosen = next(c for c in choices if c.id == campaign_id)
first = campaigns.campaign_report(app, chosen.key)
shown = [first]
#: Clients written to lately who may still answer: the reply rate can move by itself.
awaiting = live.awaiting_replies(app, campaign_id)


def campaign_summary() -> live.Activity:
    """The campaign at a glance and its controls, redrawn in place while it runs."""
    report = shown.pop() if shown else campaigns.campaign_report(app, chosen.key)
    st.subheader(chosen.name or chosen.key)
    st.caption(
        tr(
            "campaigns_page.summary",
            status=tr(f"cli.campaign.status.{report.status}"),
            by=report.created_by or "—",
            at=f"{report.created_at.astimezone():%Y-%m-%d %H:%M}",
            channels=", ".join(report.channels) or "—",
        )
    )
    cols = st.columns(5)
    cols[0].metric(tr("campaigns_page.rows"), report.rows)
    cols[1].metric(tr("campaigns_page.eligible"), report.eligible)
    cols[2].metric(tr("campaigns_page.tickets"), report.tickets)
    cols[3].metric(tr("campaigns_page.unsent"), report.unsent)
    cols[4].metric(tr("campaigns_page.failed"), report.messages.get("failed", 0))
    replies = analytics.campaign_replies(app, chosen.key)[-1]  # the whole campaign
    cols = st.columns(5)
    cols[0].metric(tr("reply_numbers.replied"), replies.replied)
    cols[1].metric(
        tr("reply_numbers.rate"), f"{replies.rate:.0%}" if replies.rate is not None else "—"
    )
    activity = live.campaign_activity(report.status, report.messages, awaiting_replies=awaiting)
    refreshing_note(View.CAMPAIGN, activity)

    if user.can(Permission.BULK_SEND):
        campaign_controls(app, user.login, chosen.key, report.status, CONTROLS)
    show(CONTROLS.slot)
    return activity


def campaign_details() -> live.Activity:
    """Its charts and recipients: more work per refresh, so a calmer pace."""
    report = campaigns.campaign_report(app, chosen.key)
    charts.delivery_grid(
        dashboards.funnel(app, campaign_id=campaign_id),
        statuses_over_time(app, campaign_id),
        dashboards.failure_reasons(app, campaign_id=campaign_id),
        dashboards.delivery_times(app, campaign_id=campaign_id),
        time_x="time",
        time_title=tr("charts.over_time"),
        key="cp",
    )
    recipients(report.channels)
    return live.campaign_activity(report.status, report.messages, awaiting_replies=awaiting)


# -- recipients -------------------------------------------------------------------------------


class FilterArgs(TypedDict):
    statuses: list[str]
    channel: str | None
    search: str | None


def recipients(channels: list[str]) -> None:
    """The campaign's messages one by one, filtered and paged, and their export."""
    st.subheader(tr("campaigns_page.recipients"))
    f1, f2, f3 = st.columns([2, 1, 2])
    statuses = f1.multiselect(
        tr("campaigns_page.filter.status"),
        [s.value for s in MessageStatus],
        format_func=formatter("status"),
        placeholder=tr("campaigns_page.filter.any"),
        key="cp_status",
        select_all=False,  # Streamlit's "Select all" speaks English only
    )
    channel = optional_select(
        tr("campaigns_page.filter.channel"),
        channels,
        tr("campaigns_page.filter.all"),
        key="cp_channel",
        where=f2,
    )
    search = f3.text_input(tr("campaigns_page.filter.search"), key="cp_search")

    filters = FilterArgs(statuses=statuses, channel=channel or None, search=search or None)
    total = campaign_recipients(app, campaign_id, limit=0, **filters).total
    pages = max(1, -(-total // PAGE_SIZE))
    page_no = page_number(tr("campaigns_page.page", pages=pages), pages, "cp_page")
    found = campaign_recipients(
        app, campaign_id, limit=PAGE_SIZE, offset=(page_no - 1) * PAGE_SIZE, **filters
    )
    st.caption(tr("campaigns_page.shown", shown=len(found.rows), total=found.total))

    def _row(r):  # type: ignore[no-untyped-def]
        return {
            "#": r.message_id,
            tr("campaigns_page.col.ticket"): f"audit?ticket={r.ticket_id}",
            tr("campaigns_page.col.channel"): r.channel,
            tr("campaigns_page.col.recipient"): r.recipient,
            tr("campaigns_page.col.contact"): r.contact,
            tr("campaigns_page.col.kind"): tr(f"audit_value.kind.{r.kind}"),
            tr("campaigns_page.col.status"): tr(f"status.{r.status}"),
            tr("campaigns_page.col.attempts"): r.attempts,
            tr("campaigns_page.col.error"): r.error(lang),
            tr("campaigns_page.col.updated"): f"{r.updated_at.astimezone():%Y-%m-%d %H:%M:%S}",
        }

    if found.rows:
        st.dataframe(
            [_row(r) for r in found.rows],
            hide_index=True,
            key="cp_recipients",
            column_config={
                tr("campaigns_page.col.ticket"): st.column_config.LinkColumn(
                    display_text=r"ticket=(\d+)"
                )
            },
        )
    else:
        st.info(tr("campaigns_page.no_recipients"))

    fmt = st.radio(
        tr("campaigns_page.export_format"), ["csv", "xlsx"], horizontal=True, key="cp_export_fmt"
    )
    if st.button(tr("campaigns_page.export"), key="cp_export", disabled=not total):
        header = [
            "message_id",
            "ticket_id",
            tr("campaigns_page.col.channel"),
            tr("campaigns_page.col.recipient"),
            tr("campaigns_page.col.contact"),
            tr("campaigns_page.col.kind"),
            tr("campaigns_page.col.status"),
            tr("campaigns_page.col.attempts"),
            tr("campaigns_page.col.error"),
            tr("campaigns_page.col.updated"),
        ]
        status_word = {s.value: tr(f"status.{s.value}") for s in MessageStatus}
        rows = (
            [
                r.message_id,
                r.ticket_id,
                r.channel,
                r.recipient,
                r.contact,
                r.kind,
                status_word.get(r.status, r.status),
                r.attempts,
                r.error(lang),
                r.updated_at.isoformat(),
            ]
            for r in iter_campaign_recipients(app, campaign_id, **filters)
        )
        st.session_state["cp_export_file"] = (campaign_id, fmt, export_bytes(header, rows, fmt))
    ready = st.session_state.get("cp_export_file")
    if ready and ready[0] == campaign_id:
        st.download_button(
            tr("campaigns_page.download"),
            ready[2],
            file_name=f"campaign-{chosen.key}.{ready[1]}",
            key="cp_download",
        )


activity = live.campaign_activity(first.status, first.messages, awaiting_replies=awaiting)
live_view(View.CAMPAIGN, activity, campaign_summary)
live_view(View.CAMPAIGN_DETAILS, activity, campaign_details)
