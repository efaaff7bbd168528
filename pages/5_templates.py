"""WhatsApp Business templates (R11): what is synced, "sync now", and a preview."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from hde_core.console import current_lang, get_app, page, tr, words
from hde_core.console.notices import flash, flash_error, show
from hde_core.console.widgets import optional_select
from hde_core.domain.roles import Permission
from hde_core.errors import HdeError
from hde_core.services.settings import preview_template, template_sync_times
from hde_core.services.templates import (
    TEMPLATE_FILTERS,
    filter_template_rows,
    sync_templates,
    template_rows,
)

#: Background of the status cell: approved green, waiting amber, anything else red.
STATUS_STYLE = {
    "APPROVED": "background-color: #d3f9d8; color: #1b5e20",
    "PENDING": "background-color: #fff3bf; color: #7a5b00",
    "IN_APPEAL": "background-color: #fff3bf; color: #7a5b00",
}
#: The provider's codes of a filterable column, said in words.
SAID = {"status": words.template_status, "category": words.template_category}
OTHER_STYLE = "background-color: #ffe3e3; color: #8a1c1c"

user = page("nav.templates", Permission.VIEW)
app = get_app()
lang = current_lang()

synced = template_sync_times(app)
if not synced:
    st.info(tr("templates_page.no_channels"))
    st.stop()

# -- last sync, and "sync now" --------------------------------------------------------------------
left, right = st.columns([2, 1])
with left:
    st.dataframe(
        [
            {
                tr("templates_page.col.channel"): name,
                tr("templates_page.col.synced"): f"{at.astimezone():%Y-%m-%d %H:%M}"
                if at
                else tr("templates_page.never"),
            }
            for name, at in synced.items()
        ],
        hide_index=True,
        key="tp_synced",
    )


def _sync() -> None:
    target = st.session_state.get("tp_sync_channel") or None
    try:
        reports = sync_templates(app, target, actor=user.login)
    except HdeError as exc:
        flash_error("tp", exc, lang)
        return
    for r in reports:
        if r.ok:
            flash(
                "tp",
                "success",
                tr(
                    "cli.templates.synced",
                    channel=r.channel,
                    total=r.total,
                    created=r.created,
                    updated=r.updated,
                    gone=r.marked_gone + r.deleted,
                ),
            )
            for c in r.status_changes:
                flash("tp", "info", tr("cli.templates.status_change", change=c))
        else:
            flash("tp", "error", tr("cli.templates.sync_failed", channel=r.channel, error=r.error))
    if not reports:
        flash("tp", "info", tr("cli.templates.no_channels"))


with right:
    if user.can(Permission.MANAGE_TEMPLATES):
        optional_select(
            tr("templates_page.sync_channel"),
            list(synced),
            tr("templates_page.all_channels"),
            key="tp_sync_channel",
        )
        st.button(tr("templates_page.sync_now"), key="tp_sync", type="primary", on_click=_sync)
    else:
        st.caption(tr("templates_page.sync_not_allowed"))
show("tp")

# -- the templates, filtered -------------------------------------------------------------------------
rows = template_rows(app)
if not rows:
    st.info(tr("cli.templates.none"))
    st.stop()


def _distinct(field: str) -> list[str]:
    return sorted({str(r[field]) for r in rows})


f = st.columns(len(TEMPLATE_FILTERS) + 1)
picked = {
    field: f[i].multiselect(
        tr(f"templates_page.col.{field}"),
        _distinct(field),
        format_func=SAID.get(field, str),
        placeholder=tr("campaigns_page.filter.any"),
        select_all=False,  # Streamlit's "Select all" is English only
        key=f"tp_f_{field}",
    )
    for i, field in enumerate(TEMPLATE_FILTERS)
}
name_query = f[-1].text_input(tr("templates_page.filter.name"), key="tp_f_name")
shown = filter_template_rows(rows, picked, name_query)
st.caption(tr("templates_page.shown", shown=len(shown), total=len(rows)))
status_col = tr("templates_page.col.status")
STYLE_OF_SAID = {words.template_status(code): style for code, style in STATUS_STYLE.items()}
frame = pd.DataFrame(
    [
        {
            tr("templates_page.col.channel"): r["channel"],
            tr("templates_page.col.name"): r["name"],
            tr("templates_page.col.language"): r["language"],
            tr("templates_page.col.category"): words.template_category(r["category"]),
            status_col: words.template_status(r["status"]),
            tr("templates_page.col.params"): ", ".join(r["params"]) or "—",
            tr("templates_page.col.default"): "★" if r["default"] else "",
            tr("templates_page.col.body"): r["body"],
        }
        for r in shown
    ],
    columns=[
        tr("templates_page.col.channel"),
        tr("templates_page.col.name"),
        tr("templates_page.col.language"),
        tr("templates_page.col.category"),
        status_col,
        tr("templates_page.col.params"),
        tr("templates_page.col.default"),
        tr("templates_page.col.body"),
    ],
)
st.dataframe(
    frame.style.map(
        lambda v: STYLE_OF_SAID.get(v, OTHER_STYLE),
        subset=[status_col],
    ),
    hide_index=True,
    key="tp_table",
)

# -- preview -------------------------------------------------------------------------------------------
st.subheader(tr("templates_page.preview"))
if not shown:
    st.stop()
refs = {f"{r['channel']} · {r['name']}:{r['language']}": r for r in shown}
ref = st.selectbox(tr("templates_page.pick"), list(refs), key="tp_pick")
template = refs[ref]
samples = [tr("templates_page.sample.name"), "1024", tr("templates_page.sample.date"), "A-17"]
params = {
    name: st.text_input(
        tr("templates_page.param", name=name),
        value=samples[i] if i < len(samples) else f"{name}",
        key=f"tp_param_{ref}_{name}",
    )
    for i, name in enumerate(template["params"])
}
try:
    text = preview_template(
        app, template["channel"], f"{template['name']}:{template['language']}", params
    )
except HdeError as exc:
    st.error(exc.message(lang))
else:
    st.code(text, language=None)
    if template["status"] != "APPROVED":
        st.warning(
            tr("templates_page.not_approved", status=words.template_status(template["status"]))
        )
