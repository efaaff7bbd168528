"""The sandbox mailbox on the overview: what the local SMTP sink received, newest first, and
one mail opened (subject, sender, recipient, text) — so a team lead trying the product sees
what the client would read."""

from __future__ import annotations

import streamlit as st

from hde_core.bootstrap import App
from hde_core.console import tr
from hde_core.sandbox.smtp_sink import SinkMail, list_mail, mail_dir

#: How many of the newest mails are listed (the heading says the same number).
SHOWN = 10


def _when(mail: SinkMail) -> str:
    return f"{mail.received_at.astimezone():%Y-%m-%d %H:%M:%S}"


def mailbox(app: App) -> None:
    """Nothing when the sink never received a mail (a deployment without the sandbox)."""
    mails = list_mail(mail_dir(app.settings.data_dir), limit=SHOWN)
    if not mails:
        return
    with st.expander(tr("home.sandbox_mail", count=len(mails))):
        st.dataframe(
            [
                {
                    tr("home.col.received"): _when(m),
                    tr("home.col.from"): m.from_header,
                    tr("home.col.to"): m.to_header,
                    tr("home.col.subject"): m.subject,
                }
                for m in mails
            ],
            hide_index=True,
            key="home_mail",
        )
        by_name = {m.path.name: m for m in mails}
        picked = st.selectbox(
            tr("home.mail.open"),
            list(by_name),
            index=None,
            format_func=lambda name: (
                f"{_when(by_name[name])} · {by_name[name].to_header} · {by_name[name].subject}"
                if name in by_name
                else name
            ),
            placeholder=tr("home.mail.pick"),
            key="home_mail_open",
        )
        mail = by_name.get(picked or "")
        if mail is not None:
            st.markdown(f"**{tr('home.col.subject')}:** {mail.subject}")
            st.text(
                f"{tr('home.col.from')}: {mail.from_header}\n{tr('home.col.to')}: {mail.to_header}"
            )
            st.text(mail.text or tr("home.mail.no_text"))
