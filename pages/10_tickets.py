"""Tickets ("Заявки", issue 17.3–17.4): every conversation with filters, counts per status
and pages, newest activity first (the signed-in user's own tickets first); one ticket's
thread with a reply box that follows the channel's rules (free text, or a template outside
the WhatsApp window), assignment and status. Every action is a service call; the reply
goes through the outbox and is sent at once (once per form: a submission key)."""

from __future__ import annotations

import uuid

import streamlit as st

from hde_core.console import get_app, page, tr
from hde_core.console.widgets import optional_select, page_number
from hde_core.dispatch.immediate import deliver_now
from hde_core.domain.roles import Permission
from hde_core.domain.tickets import TICKET_MOVES, TicketStatus
from hde_core.errors import HdeError, Refused
from hde_core.services.conversation import assign as assignment
from hde_core.services.conversation.queries import TicketFilter, list_tickets, ticket_thread
from hde_core.services.conversation.reply import ReplyRefused, reply, reply_options

PAGE_SIZE = 25
STATUSES = [s.value for s in TicketStatus]

user = page("nav.tickets", Permission.VIEW)
app = get_app()
can_reply = user.can(Permission.REPLY_TICKET)

waiting = assignment.waiting_for(app, user.login)
if waiting:
    st.info(tr("tickets_page.waiting_for_you", count=waiting))


def status_word(value: str) -> str:
    return tr(f"conversation.status.{value}")


def show_list() -> None:
    f1, f2, f3, f4 = st.columns(4)
    status = optional_select(
        tr("tickets_page.filter.status"),
        STATUSES,
        tr("tickets_page.filter.any"),
        key="tk_status",
        where=f1,
    )
    channel = f2.text_input(tr("tickets_page.filter.channel"), key="tk_channel").strip()
    campaign = f3.text_input(tr("tickets_page.filter.campaign"), key="tk_campaign").strip()
    window = optional_select(
        tr("tickets_page.filter.window"),
        ["open", "closing"],
        tr("tickets_page.filter.any"),
        key="tk_window",
        where=f4,
    )
    mine = st.checkbox(tr("tickets_page.filter.mine"), key="tk_mine")
    filters = TicketFilter(
        status or None,
        channel or None,
        campaign or None,
        user.login if mine else None,
        window or None,
    )
    try:
        first = list_tickets(app, filters, 1, PAGE_SIZE, mine_first=user.login)
    except HdeError as exc:
        st.warning(exc.message(st.session_state.get("lang")))
        return
    counts = st.columns(len(STATUSES))
    for column, value in zip(counts, STATUSES, strict=True):
        column.metric(status_word(value), first.counts.get(value, 0))
    number = page_number(tr("tickets_page.page", pages=first.pages), first.pages, "tk_page")
    result = (
        first
        if number == 1
        else list_tickets(app, filters, number, PAGE_SIZE, mine_first=user.login)
    )
    if not result.rows:
        st.info(tr("tickets_page.none"))
        return
    st.dataframe(
        [
            {
                "#": r.id,
                tr("tickets_page.col.status"): status_word(r.status),
                tr("tickets_page.col.subject"): r.subject,
                tr("tickets_page.col.contact"): r.contact or r.address,
                tr("tickets_page.col.channel"): r.channel,
                tr("tickets_page.col.assignee"): r.assignee or "—",
                tr("tickets_page.col.campaign"): r.campaign or "—",
                tr("tickets_page.col.activity"): f"{r.last_activity_at.astimezone():%d.%m %H:%M}",
            }
            for r in result.rows
        ],
        hide_index=True,
        key="tk_table",
    )
    chosen = st.selectbox(
        tr("tickets_page.open"),
        [r.id for r in result.rows],
        format_func=lambda i: f"#{i}",
        key="tk_pick",
    )
    if st.button(tr("tickets_page.open_button"), key="tk_open"):
        st.query_params["ticket"] = str(chosen)
        st.rerun()


def show_ticket(ticket_id: int) -> None:
    if st.button(tr("tickets_page.back"), key="tk_back"):
        del st.query_params["ticket"]
        st.rerun()
    try:
        thread = ticket_thread(app, ticket_id)
    except HdeError as exc:
        st.warning(exc.message(st.session_state.get("lang")))
        return
    row = thread.ticket
    st.subheader(f"#{row.id} · {row.subject}")
    st.caption(
        tr(
            "tickets_page.header",
            status=status_word(row.status),
            channel=row.channel,
            to=row.address,
            assignee=row.assignee or "—",
            campaign=row.campaign or "—",
        )
    )
    for entry in thread.entries:
        with st.chat_message("assistant" if entry.ours else "user"):
            label = tr("tickets_page.we") if entry.ours else (row.contact or row.address)
            marks = []
            if entry.ours and entry.status:
                marks.append(tr(f"status.{entry.status}"))
            if entry.template:
                marks.append(tr("tickets_page.template"))
            if entry.auto_reply:
                marks.append(tr("tickets_page.auto_reply"))
            st.caption(
                f"{label} · {entry.at.astimezone():%d.%m %H:%M}"
                + (f" · {' · '.join(marks)}" if marks else "")
            )
            st.text(entry.text)
            if entry.error:
                st.error(entry.error)
            if entry.attachments:
                st.caption(tr("tickets_page.attachments", names=", ".join(entry.attachments)))
    if thread.other_channels:
        st.caption(
            tr(
                "tickets_page.other_channels",
                channels=", ".join(f"{c}: {a}" for c, a in thread.other_channels),
            )
        )
    if can_reply:
        reply_box(ticket_id)
        manage(ticket_id, row.status, row.assignee)
    with st.expander(tr("tickets_page.audit")):
        st.dataframe(
            [{"at": a["at"], "actor": a["actor"], "event": a["event"]} for a in thread.audit],
            hide_index=True,
            key="tk_audit",
        )


def _new_reply(ticket_id: int) -> None:
    """Start the next answer: an empty box and a new submission key (an on_click callback)."""
    for name in [k for k in st.session_state if str(k).startswith(f"tk_body_{ticket_id}")]:
        del st.session_state[name]
    for name in [k for k in st.session_state if str(k).startswith(f"tk_param_{ticket_id}_")]:
        del st.session_state[name]
    st.session_state[f"tk_form_{ticket_id}"] = uuid.uuid4().hex
    st.session_state.pop(f"tk_sent_{ticket_id}", None)


def reply_box(ticket_id: int) -> None:
    form_key = f"tk_form_{ticket_id}"
    st.session_state.setdefault(form_key, uuid.uuid4().hex)
    if st.session_state.get(f"tk_sent_{ticket_id}"):
        # Sent: no second "Отправить" under the same text (a double click or a click that
        # arrives after the rerun would be a second answer); the next one is asked for.
        st.success(tr("tickets_page.sent"))
        st.button(
            tr("tickets_page.new_reply"), key="tk_new_reply", on_click=_new_reply, args=(ticket_id,)
        )
        return
    options = reply_options(app, ticket_id)
    if options.window_closes_at:
        st.caption(
            tr(
                "tickets_page.window_until",
                at=f"{options.window_closes_at.astimezone():%d.%m %H:%M}",
            )
        )
    template = None
    params: dict[str, str] = {}
    body = None
    if options.free_text:
        body = st.text_area(tr("tickets_page.reply"), key=f"tk_body_{ticket_id}")
    elif options.templates:
        st.warning(tr("tickets_page.window_closed"))
        picked = st.selectbox(
            tr("tickets_page.template_pick"),
            options.templates,
            format_func=lambda t: f"{t.ref}" + (f" — {t.cost} {t.currency}" if t.cost else ""),
            key=f"tk_tpl_{ticket_id}",
        )
        template = picked.ref
        st.caption(picked.body_text)
        for name in picked.params:
            params[name] = st.text_input(
                tr("tickets_page.param", name=name), key=f"tk_param_{ticket_id}_{name}"
            )
    else:
        st.warning(tr(f"field_error.{options.reason}", to=ticket_id, templates="—"))
        return
    if st.button(tr("tickets_page.send"), key="tk_send", type="primary"):
        try:
            result = reply(
                app,
                user.login,
                ticket_id,
                body=body,
                template=template,
                params=params,
                submission_key=st.session_state[form_key],
            )
        except ReplyRefused as exc:
            for e in exc.errors:
                st.error(e.message(st.session_state.get("lang")))
            return
        if not result.duplicate:
            deliver_now(app, [result.message_id])
        st.session_state[f"tk_sent_{ticket_id}"] = (
            True  # the key stays: a repeat is the same answer
        )
        st.rerun()


def manage(ticket_id: int, status: str, assignee: str | None) -> None:
    c1, c2 = st.columns(2)
    moves = sorted(TICKET_MOVES[TicketStatus(status)])
    if moves:
        labels = {m.value: status_word(m.value) for m in moves}  # translated now, not later
        new = c1.selectbox(
            tr("tickets_page.move"),
            list(labels),
            format_func=labels.__getitem__,
            key=f"tk_move_{ticket_id}",
        )
        if c1.button(tr("tickets_page.move_button"), key="tk_move"):
            try:
                assignment.set_status(app, user.login, ticket_id, new)
            except Refused as exc:
                st.error(exc.message(st.session_state.get("lang")))
            else:
                st.rerun()
    if assignee != user.login and c2.button(tr("tickets_page.take"), key="tk_take"):
        try:
            assignment.assign(app, user.login, ticket_id, user.login)
        except HdeError as exc:
            st.error(exc.message(st.session_state.get("lang")))
        else:
            st.rerun()


selected = st.query_params.get("ticket")
if selected and str(selected).isdigit():
    show_ticket(int(selected))
else:
    show_list()
