"""The preview of what the client gets, and the test send before launch (issue 16.3), for
the single-ticket page and the bulk wizard alike.

The page gives a :class:`~hde_core.services.previews.RenderedPreview` (rendered by the code
that renders the sent message) and a way to make the test ticket; this module only draws
them. Widget keys start with the caller's prefix.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from hde_core.console import ConsoleUser, get_app, tr
from hde_core.console.forms import submission_key
from hde_core.dispatch.immediate import initiate_ticket
from hde_core.domain.channels import ChannelKind
from hde_core.errors import HdeError, Refused
from hde_core.services.preferences import last_test_address, remember_test_address
from hde_core.services.previews import (
    PreviewMessage,
    RenderedPreview,
    preview_ticket,
    ticket_test_request,
)
from hde_core.services.tickets import TicketRequest, TicketResult


def show(shown: RenderedPreview, prefix: str) -> None:
    """Every message of the ticket as its client will read it, in the order they go."""
    st.caption(
        tr(
            "previews.to",
            channel=shown.channel,
            kind=tr(f"channels_page.kind.{shown.channel_kind}"),
            recipient=shown.recipient or "—",
        )
    )
    if shown.reason:
        st.warning(tr(f"reason.{shown.reason}", field=shown.reason_field or ""))
    if shown.skipped:
        st.info(tr(f"cli.ticket.skipped.{shown.skipped}"))
        return
    if shown.doubled_greeting:
        st.warning(tr("previews.doubled_greeting"))
    for i, message in enumerate(shown.messages):
        _message(message, f"{prefix}_{i}")
    number = str(shown.ticket_id)
    if any(number in f"{m.subject or ''} {m.text}" for m in shown.messages):
        st.caption(tr("previews.ticket_number", id=shown.ticket_id))


def _message(message: PreviewMessage, key: str) -> None:
    if message.kind == "email":
        st.markdown(tr("previews.email_from", mailbox=message.from_addr or "—"))
        with st.container(key=f"{key}_subject"):
            st.text(message.subject or "")
        with st.container(key=f"{key}_text"):
            st.text(message.text)
        if message.html:
            with st.expander(tr("previews.html")):
                st.html(message.html)  # sanitised: a template is a team lead's text
        return
    if message.kind == "template":
        st.markdown(tr("previews.template", template=message.template or ""))
        if message.unfilled:
            names = ", ".join("{{" + name + "}}" for name in message.unfilled)
            st.warning(tr("previews.unfilled", params=names))
    elif message.held:
        st.markdown(tr("previews.held"))
    with st.container(key=f"{key}_text"):
        st.text(message.text)


def offer_test_send(
    prefix: str,
    user: ConsoleUser,
    kind: str,
    make: Callable[[str, str], TicketRequest],
) -> None:
    """The test send: to an address the user types (their own mailbox, or a sandbox client
    who wrote to the channel), through the outbox and the dispatcher like any ticket. One
    click, one test (the form's key); "another test" issues a new key."""
    S = st.session_state
    done: TicketResult | None = S.get(f"{prefix}_result")
    with st.container(border=True, key=f"{prefix}_box"):
        st.markdown(tr("previews.test.title"))
        if done is not None:
            _sent(done)
            st.button(
                tr("previews.test.again"), key=f"{prefix}_again", on_click=_again, args=(prefix,)
            )
            return
        hint = (
            "previews.test.hint_email" if kind == ChannelKind.EMAIL else "previews.test.hint_other"
        )
        if f"{prefix}_to" not in S:  # the address of the user's last test, offered again
            S[f"{prefix}_to"] = last_test_address(get_app(), user.login) or ""
        to = st.text_input(tr("previews.test.to"), key=f"{prefix}_to", placeholder=tr(hint))
        if st.button(tr("previews.test.send"), key=f"{prefix}_send", disabled=not to.strip()):
            _send(prefix, user, make, to.strip())


def _send(
    prefix: str, user: ConsoleUser, make: Callable[[str, str], TicketRequest], to: str
) -> None:
    try:
        request = make(to, submission_key(prefix))
        with st.spinner(tr("ticket.sending")):
            result = initiate_ticket(get_app(), request, user.login)
    except Refused as refused:
        st.error(tr("previews.test.refused"))
        for e in refused.errors:
            st.markdown(f"- {e.message(_lang())}")
    except HdeError as exc:
        st.error(exc.message(_lang()))
    else:
        remember_test_address(get_app(), user.login, to)
        st.session_state[f"{prefix}_result"] = result
        st.rerun()


def _sent(done: TicketResult) -> None:
    status = done.status or "queued"
    if status in ("sent", "delivered", "read"):
        st.success(tr("previews.test.sent", to=done.recipient, id=done.ticket_id))
    else:
        error = next((m.error_text for m in done.messages if m.error_text), "") or ""
        st.warning(
            tr(
                "previews.test.not_sent",
                to=done.recipient,
                status=tr(f"status.{status}"),
                error=error,
            )
        )


def _again(prefix: str) -> None:
    S = st.session_state
    for name in (f"{prefix}_result", f"{prefix}_submission_key"):
        S.pop(name, None)


def _lang() -> str:
    from hde_core.console import current_lang

    return current_lang()


def ticket_preview(user: ConsoleUser, request: TicketRequest, kind: str) -> None:
    """The single-ticket page's preview (what this form would send now) and its test send."""
    app = get_app()
    st.subheader(tr("previews.title"))
    try:
        shown = preview_ticket(app, request, user.login)
    except Refused as refused:
        for e in refused.errors:
            st.warning(
                e.message(_lang(), {"subject": tr("ticket.subject"), "body": tr("ticket.body")})
            )
        return
    except HdeError as exc:
        st.warning(exc.message(_lang()))
        return
    with st.container(border=True, key="nt_preview"):
        show(shown, "nt_preview")
    offer_test_send(
        "nt_test",
        user,
        kind,
        lambda to, key: ticket_test_request(app, request, to, user.login, key),
    )
