"""Steps 4–5 of the bulk wizard: the channels to try in order, then the message (subject,
body with the list's columns, department, priority, WhatsApp template) and its preview."""

from __future__ import annotations

from dataclasses import dataclass, field

import streamlit as st

from hde_core.console import formatter, tr
from hde_core.console.bulk import Wizard
from hde_core.console.previews import offer_test_send
from hde_core.console.previews import show as show_preview
from hde_core.console.words import template_category
from hde_core.domain.channels import ChannelKind
from hde_core.errors import HdeError
from hde_core.services import bulk, previews
from hde_core.services.reference import ticket_form_options


@dataclass(frozen=True)
class Message:
    subject: str
    body: str
    priority: str
    department: str | None = None
    template: bulk.TemplateChoice | None = None
    params: dict[str, str] = field(default_factory=dict)


def channels(w: Wizard) -> tuple[dict[str, bulk.ChannelChoice], list[str]] | None:
    """4. The channels picked, in order (None when there is no channel at all)."""
    S = st.session_state
    st.subheader(tr("bulk.step.channels"))
    choices = {c.name: c for c in bulk.channel_choices(w.app)}
    if not choices:
        st.info(tr("home.no_channels"))
        return None
    off = tr("bulk.channels.unavailable")
    labels = {
        c.name: f"{c.name} ({tr('channels_page.kind.' + c.kind)})"
        + ("" if c.available else f" — {off}")
        for c in choices.values()
    }
    S["bulk_channels"] = [c for c in S.get("bulk_channels", []) if c in choices]
    picked: list[str] = st.multiselect(
        tr("bulk.channels.label"),
        list(choices),
        key="bulk_channels",
        select_all=False,  # Streamlit's "Select all" speaks English only
        format_func=labels.__getitem__,
        help=tr("bulk.channels.help"),
        placeholder=tr("bulk.channels.placeholder"),
    )
    if len(picked) > 1:
        st.caption(tr("bulk.channels.order", order=" → ".join(picked)))
    return choices, picked


def _insert_placeholder() -> None:
    S = st.session_state
    column = S.get("bulk_column")
    if column:
        S["bulk_body"] = (S.get("bulk_body") or "") + bulk.placeholder_for(column)


def message(
    w: Wizard,
    upload: bulk.Upload,
    facts: bulk.ListFacts,
    mapping: dict[str, str],
    choices: dict[str, bulk.ChannelChoice],
    picked: list[str],
) -> Message:
    """5. What to say, and how a chosen row's client will get it."""
    S = st.session_state
    st.subheader(tr("bulk.step.message"))
    subject = st.text_input(tr("ticket.subject") + " *", key="bulk_subject")
    column_col, button_col = st.columns([3, 1], vertical_alignment="bottom")
    column_col.selectbox(tr("bulk.message.column"), list(facts.headers), key="bulk_column")
    button_col.button(tr("bulk.message.insert"), on_click=_insert_placeholder, key="bulk_insert")
    body = st.text_area(
        tr("ticket.body") + " *", key="bulk_body", height=140, help=tr("bulk.message.help")
    )
    form = ticket_form_options(w.app)
    left, right = st.columns(2)
    department = None
    emails = [choices[c] for c in picked if choices[c].kind == ChannelKind.EMAIL]
    if emails:
        own = emails[0]
        by_channel = tr("bulk.message.department_default", department=own.department or "—")
        department = left.selectbox(
            tr("ticket.department"),
            ["", *(d.name for d in form.departments)],
            key="bulk_department",
            format_func=lambda v: v or by_channel,
        )
        mailbox = next(
            (d.mailbox for d in form.departments if d.name == department), own.mailbox or "—"
        )
        left.caption(tr("ticket.sender_mailbox", mailbox=mailbox))
    if S.get("bulk_priority") not in form.priorities:
        S["bulk_priority"] = "normal"
    priority = right.selectbox(
        tr("ticket.priority"),
        form.priorities,
        format_func=formatter("priority"),
        key="bulk_priority",
    )
    template, params = _wa_template(w, facts, picked)
    msg = Message(subject, body, priority, department, template, params)
    if subject.strip() and body.strip() and picked:
        _preview(w, upload, facts, mapping, picked, msg)
    return msg


def _wa_template(
    w: Wizard, facts: bulk.ListFacts, picked: list[str]
) -> tuple[bulk.TemplateChoice | None, dict[str, str]]:
    """The WhatsApp Business template for a closed window, and the column of each parameter."""
    wa = bulk.wa_options(w.app, picked)
    template: bulk.TemplateChoice | None = None
    params: dict[str, str] = {}
    if wa is None:
        return template, params
    none = tr("bulk.mapping.none")
    st.markdown(tr("bulk.wa.title", channel=wa.channel))
    by_ref = {tpl.ref: tpl for tpl in wa.templates}
    default_label = (
        tr("bulk.wa.default", ref=wa.default, category=template_category(wa.default_category or ""))
        if wa.default
        else tr("bulk.wa.no_default")
    )
    ref = st.selectbox(
        tr("bulk.wa.template"),
        ["", *by_ref],
        key="bulk_template",
        format_func=lambda v: v or default_label,
        help=tr("bulk.wa.help"),
    )
    template = by_ref.get(ref) if ref else None
    if template is not None:
        st.caption(tr("bulk.wa.category", category=template_category(template.category)))
        for column, name in zip(
            st.columns(max(1, len(template.params))), template.params, strict=False
        ):
            params[name] = column.selectbox(
                tr("bulk.wa.param", param=name),
                ["", *facts.headers],
                key=f"bulk_param_{name}",
                format_func=lambda v: v or none,
            )
    return template, params


def _preview(
    w: Wizard,
    upload: bulk.Upload,
    facts: bulk.ListFacts,
    mapping: dict[str, str],
    picked: list[str],
    msg: Message,
) -> None:
    """The message of a chosen row as its client will get it — rendered by the code the
    launch renders it with (issue 16.3) — and a test send of it before launch."""
    st.markdown(f"**{tr('previews.title')}**")
    problem = previews.message_problem(msg.subject, msg.body, w.lang)
    if problem is not None:
        st.error(problem)
        return
    row = _row_picker(facts.rows)
    draft = bulk.make_draft(
        upload,
        mapping,
        picked,
        msg.subject,
        msg.body,
        department=msg.department,
        priority=msg.priority,
        template=msg.template.ref if msg.template else None,
        params=msg.params,
    )
    loaded = bulk.loaded_list(w.app, upload, mapping)
    try:
        shown = previews.preview_row(w.app, draft.request(), loaded, row, w.user.login)
    except HdeError as exc:
        st.error(exc.message(w.lang))
        return
    with st.container(border=True, key="bulk_preview"):
        show_preview(shown, "bulk_preview")
    number = shown.row_number or 1
    offer_test_send(
        "bulk_test",
        w.user,
        shown.channel_kind,
        lambda to, key: previews.request_for_test_send(
            w.app, draft.request(), loaded, number, to, w.user.login, key
        ),
    )


def _row_picker(rows: int) -> int:
    """First, next, or a row number (1-based, as in the check's table)."""
    S = st.session_state
    last = max(rows, 1)
    S["bulk_preview_row"] = min(max(int(S.get("bulk_preview_row") or 1), 1), last)
    number_col, of_col, first_col, next_col = st.columns([2, 1, 1, 1], vertical_alignment="bottom")
    row = number_col.number_input(
        tr("previews.row.title"), min_value=1, max_value=last, step=1, key="bulk_preview_row"
    )
    of_col.caption(tr("previews.row.of", count=rows))
    first_col.button(
        tr("previews.row.first"), key="bulk_preview_first", on_click=_go_row, args=(1, last)
    )
    next_col.button(
        tr("previews.row.next"),
        key="bulk_preview_next",
        on_click=_go_row,
        args=(int(row) + 1, last),
    )
    return int(row)


def _go_row(row: int, last: int) -> None:
    st.session_state["bulk_preview_row"] = row if row <= last else 1
