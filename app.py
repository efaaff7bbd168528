"""HDE Outreach console: home page. Thin: everything it shows comes from hde_core."""

from __future__ import annotations

import streamlit as st

from hde_core.console import get_app, page, tr
from hde_core.sandbox.smtp_sink import list_mail, mail_dir
from hde_core.services.health import health

page("app.title")
app = get_app()
info = health(app)

st.subheader(tr("home.core"))
col1, col2, col3 = st.columns(3)
col1.metric(
    tr("home.schema"), tr("home.schema_ok") if info.schema_current else tr("home.schema_old")
)
col2.metric(tr("home.tickets"), info.tickets)
col3.metric(tr("home.messages"), sum(info.messages_by_status.values()))
st.caption(tr("home.database", url=info.database, revision=info.revision))

st.subheader(tr("home.channels"))
if info.channels:
    st.dataframe(
        [
            {
                tr("home.col.name"): c.name,
                tr("home.col.kind"): c.kind,
                tr("home.col.provider"): c.provider,
                tr("home.col.status"): tr(f"channel_status.{c.status}"),
                tr("home.col.sandbox"): "✓" if c.sandbox else "",
            }
            for c in info.channels
        ],
        hide_index=True,
        key="home_channels",
    )
else:
    st.info(tr("home.no_channels"))

st.subheader(tr("home.sandbox_mail"))
mails = list_mail(mail_dir(app.settings.data_dir), limit=10)
if mails:
    st.dataframe(
        [
            {
                tr("home.col.received"): f"{m.received_at:%Y-%m-%d %H:%M:%S}",
                tr("home.col.from"): m.from_header,
                tr("home.col.to"): m.to_header,
                tr("home.col.subject"): m.subject,
            }
            for m in mails
        ],
        hide_index=True,
        key="home_mail",
    )
else:
    st.info(tr("home.no_mail"))
