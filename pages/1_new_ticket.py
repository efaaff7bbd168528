"""New ticket: find the client, pick a channel (with its verdict), write, send."""

from __future__ import annotations

import streamlit as st

from hde_core.console import current_lang, formatter, get_app, page, tr
from hde_core.console.forms import reset_form, submission_key
from hde_core.console.previews import ticket_preview
from hde_core.console.widgets import optional_select
from hde_core.dispatch.immediate import initiate_ticket
from hde_core.domain.channels import ChannelKind
from hde_core.domain.roles import Permission
from hde_core.errors import Refused
from hde_core.services.audit import trail_rows
from hde_core.services.recipients import (
    ChannelOption,
    channel_options,
    preferred_channel,
    search_contacts,
)
from hde_core.services.reference import ticket_form_options
from hde_core.services.rendering import TAGS
from hde_core.services.tickets import TicketRequest, TicketResult

user = page("nav.new_ticket", Permission.CREATE_TICKET)
app = get_app()
options = ticket_form_options(app)

# -- 1. the client ---------------------------------------------------------------------
st.subheader(tr("ticket.client"))
query = st.text_input(tr("ticket.search"), key="nt_search", placeholder=tr("ticket.search_hint"))
found = search_contacts(app, query) if query else []
NEW = -1
choices = [NEW] + [c.contact_id for c in found]
labels = {NEW: tr("ticket.new_address")} | {
    c.contact_id: f"{c.name} — " + ", ".join(f"{i.channel}: {i.address}" for i in c.identities)
    for c in found
}
contact_id = st.radio(
    tr("ticket.pick_client"), choices, format_func=labels.__getitem__, key="nt_contact"
)
typed = None
contact_name: str | None = None
if contact_id == NEW:
    typed = (
        st.text_input(tr("ticket.address"), key="nt_to", placeholder=tr("ticket.address_hint"))
        or None
    )
    contact_name = st.text_input(tr("ticket.contact_name"), key="nt_name")

# -- 2. the channel, with what will happen -------------------------------------------------
st.subheader(tr("ticket.channel"))
channel_list = channel_options(app, None if contact_id == NEW else contact_id, typed)
if not channel_list:
    st.info(tr("ticket.no_channels"))
    st.stop()


by_id: dict[int, ChannelOption] = {o.channel_id: o for o in channel_list}
# The channel follows the recipient: another client (or address) starts on its best channel.
recipient_key = f"{contact_id}:{typed or ''}"
if st.session_state.get("nt_channel_for") != recipient_key:
    st.session_state["nt_channel_for"] = recipient_key
    st.session_state["nt_channel"] = preferred_channel(channel_list)


kind_words = {o.kind: tr(f"channels_page.kind.{o.kind}") for o in channel_list}


def _option_label(channel_id: int) -> str:
    option = by_id[channel_id]
    mark = "✓" if option.verdict.eligible else "✗"
    return f"{mark} {option.channel} ({kind_words[option.kind]})"


picked_id = st.selectbox(
    tr("ticket.channel"),
    list(by_id),
    format_func=_option_label,
    key="nt_channel",
    label_visibility="collapsed",  # the step's heading above says it
)
picked = by_id[picked_id if picked_id in by_id else channel_list[0].channel_id]
if picked.verdict.eligible:
    st.success(
        tr(
            "ticket.will_happen",
            address=picked.address or "—",
            action=tr(f"action.{picked.verdict.action.value if picked.verdict.action else 'send'}"),
        )
    )
else:
    st.warning(tr(f"reason.{picked.verdict.reason.value}", field=picked.verdict.field or ""))
if picked.kind == ChannelKind.WA_BUSINESS:
    if picked.window_open and picked.window_closes_at:
        st.caption(
            tr("ticket.window_open", until=f"{picked.window_closes_at.astimezone():%d.%m %H:%M}")
        )
    else:
        st.caption(tr("ticket.window_closed"))
is_email = picked.kind == ChannelKind.EMAIL

# -- 3. the ticket -------------------------------------------------------------------------
st.subheader(tr("ticket.ticket"))
dept_names = [d.name for d in options.departments]
default_dept = next((d.name for d in options.departments if d.id == picked.department_id), None)
department = st.selectbox(
    tr("ticket.department"),
    dept_names,
    index=dept_names.index(default_dept) if default_dept else None,
    key="nt_department",
    placeholder=tr("ticket.department_hint"),
)
if is_email and department:
    mailbox = next(d.mailbox for d in options.departments if d.name == department)
    st.caption(tr("ticket.sender_mailbox", mailbox=mailbox))
subject = st.text_input(tr("ticket.subject") + " *", key="nt_subject")


def _insert_tag() -> None:
    tag = st.session_state.get("nt_tag")
    if tag:
        st.session_state["nt_body"] = (st.session_state.get("nt_body") or "") + tag


tag_col, button_col = st.columns([3, 1])
tag_col.selectbox(tr("ticket.tag"), TAGS, key="nt_tag")
button_col.button(tr("ticket.insert_tag"), on_click=_insert_tag, key="nt_insert")
body = st.text_area(tr("ticket.body") + " *", key="nt_body", height=160)

col1, col2 = st.columns(2)
priority = col1.selectbox(
    tr("ticket.priority"),
    options.priorities,
    index=options.priorities.index("normal"),
    format_func=formatter("priority"),
    key="nt_priority",
)
assignee = optional_select(
    tr("ticket.assignee"),
    options.assignees,
    tr("ticket.unassigned"),
    key="nt_assignee",
    where=col2,
)
fields: dict[str, str] = {}
for f in options.fields:
    fields[f.key] = st.text_input(f.label + (" *" if f.required else ""), key=f"nt_field_{f.key}")
send_email = st.checkbox(
    tr("ticket.send_email"),
    value=True,
    disabled=not is_email,
    key="nt_send_email",
    help=None if is_email else tr("ticket.send_email_na"),
)
from_client = st.checkbox(
    tr("ticket.from_client"), key="nt_from_client", help=tr("ticket.from_client_help")
)


def _request(key: str | None = None) -> TicketRequest:
    return TicketRequest(
        channel=picked.channel,
        to=picked.address or (typed or ""),
        subject=subject,
        body=body,
        department=department,
        priority=priority,
        assignee=assignee or None,
        fields={k: v for k, v in fields.items() if v},
        send_email=send_email,
        from_client=from_client,
        contact_name=contact_name or None,
        submission_key=key,
    )


def _submit() -> None:
    request = _request(submission_key("nt"))  # one submission = one ticket (issue 16.2)
    try:
        with st.spinner(tr("ticket.sending")):
            result = initiate_ticket(app, request, user.login)
    except Refused as refused:
        st.error(tr("cli.ticket.refused"))
        # the form's own labels, so the message names what the team lead sees
        names = {
            "subject": tr("ticket.subject"),
            "body": tr("ticket.body"),
            "priority": tr("ticket.priority"),
            "assignee": tr("ticket.assignee"),
        } | {f.key: f.label for f in options.fields}
        for e in refused.errors:
            st.markdown(f"- {e.message(current_lang(), names)}")
    else:
        st.session_state["nt_result"] = result
        st.rerun()  # the same button is not offered again for this form


done: TicketResult | None = st.session_state.get("nt_result")
if done is None and subject.strip() and body.strip():
    ticket_preview(user, _request(), picked.kind)  # what the client gets, and a test send
if done is None:
    if st.button(
        tr("ticket.submit"), type="primary", key="nt_submit", disabled=not picked.verdict.eligible
    ):
        _submit()
else:
    st.success(tr("cli.ticket.created", id=done.ticket_id, channel=done.channel, to=done.recipient))
    if done.email_skipped:
        st.info(tr(f"cli.ticket.skipped.{done.email_skipped}"))
    for m in done.messages:
        st.markdown(
            tr(
                f"cli.ticket.message.{m.status}",
                kind=tr(f"audit_value.kind.{m.kind}"),
                id=m.id,
                # as code: an email Message-ID in <…> would otherwise become a mailto link
                provider_id=f"`{m.provider_message_id}`" if m.provider_message_id else "",
                error=m.error_text or "",
            )
        )
    st.button(tr("ticket.new"), type="primary", key="nt_new", on_click=reset_form, args=("nt",))
    st.subheader(tr("ticket.trail", id=done.ticket_id))
    st.dataframe(trail_rows(app, done.ticket_id, current_lang()), hide_index=True, key="nt_trail")
