"""Audit and delivery: a ticket's trail (R8) found by its number or its client, and the
delivery charts of a period."""

from __future__ import annotations

from datetime import timedelta

import streamlit as st

from hde_core.console import charts, current_lang, get_app, page, tr
from hde_core.domain.roles import Permission
from hde_core.services import dashboards
from hde_core.services.audit import trail_rows
from hde_core.services.delivery import ticket_summary, tickets_of_contacts
from hde_core.services.recipients import search_contacts

user = page("nav.audit", Permission.VIEW)
app = get_app()
lang = current_lang()

# -- a ticket's trail ---------------------------------------------------------------------------------
st.subheader(tr("audit_page.trail_title"))
linked = st.query_params.get("ticket")  # a ticket link from the campaigns page
if linked and st.session_state.get("au_linked") != linked:
    st.session_state["au_query"] = st.session_state["au_linked"] = str(linked)
query = st.text_input(
    tr("audit_page.search"), key="au_query", placeholder=tr("audit_page.search_hint")
).strip()
digits = query.lstrip("#")
summary = ticket_summary(app, int(digits), lang) if digits.isdigit() and len(digits) <= 9 else None
if query and summary is None:
    found = tickets_of_contacts(app, [c.contact_id for c in search_contacts(app, query)])
    if found:
        labels = {
            t["id"]: f"#{t['id']} · {t['subject']} · {t['contact']} · {t['channel']} · "
            f"{t['created_at'].astimezone():%Y-%m-%d %H:%M}"
            for t in found
        }
        picked = st.radio(
            tr("audit_page.pick"), list(labels), format_func=labels.__getitem__, key="au_pick"
        )
        summary = ticket_summary(app, picked, lang)
    elif digits.isdigit():
        st.warning(tr("audit_page.not_found", id=digits))
    else:
        st.info(tr("audit_page.nothing"))
if summary is not None:
    st.markdown(
        tr(
            "audit_page.ticket",
            id=summary.id,
            subject=summary.subject,
            channel=summary.channel,
            contact=summary.contact or "—",
            by=summary.created_by,
            at=f"{summary.created_at.astimezone():%Y-%m-%d %H:%M}",
        )
    )
    if summary.campaign:
        st.caption(tr("audit_page.campaign", campaign=summary.campaign))
    st.dataframe(
        [
            {
                "#": m.id,
                tr("campaigns_page.col.channel"): m.channel,
                tr("campaigns_page.col.kind"): tr(f"audit_value.kind.{m.kind}"),
                tr("campaigns_page.col.recipient"): m.recipient,
                tr("campaigns_page.col.status"): tr(f"status.{m.status}"),
                tr("audit_page.provider_id"): m.provider_message_id or "",
                tr("campaigns_page.col.error"): m.error,
            }
            for m in summary.messages
        ],
        hide_index=True,
        key="au_messages",
    )
    st.dataframe(trail_rows(app, summary.id, lang), hide_index=True, key="au_trail")

# -- delivery over a period -----------------------------------------------------------------------------
st.divider()
st.subheader(tr("audit_page.delivery_title"))
days_words = tr("audit_page.days")
days = st.radio(
    tr("audit_page.period"),
    [1, 7, 30],
    index=1,
    horizontal=True,
    format_func=lambda d: days_words.format(days=d),
    key="au_days",
)
start = app.clock.now().replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(
    days=days - 1
)
charts.delivery_grid(
    dashboards.funnel(app, since=start),
    dashboards.statuses_by_day(app, days=days),
    dashboards.failure_reasons(app, since=start),
    dashboards.delivery_times(app, since=start),
    time_x="day",
    time_title=tr("audit_page.by_day"),
    key="au",
    bucket="day",
)
