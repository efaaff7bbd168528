"""Bulk outreach: upload a list → preview → columns → channels → message → check (reasons,
table, report) → cost → confirm → live progress → results.

The page is the order of the steps; each step is drawn by :mod:`hde_core.console.bulk`,
and every count, verdict, page of rows and file comes from :mod:`hde_core.services.bulk`.
"""

from __future__ import annotations

import streamlit as st

from hde_core.console import current_lang, get_app, page, tr
from hde_core.console.bulk import Wizard, check, draft, keep_values, message, progress, source
from hde_core.domain.roles import Permission

user = page("nav.bulk", Permission.CREATE_TICKET)
w = Wizard(get_app(), user, current_lang())
keep_values()
draft.restore(w)  # the user's draft: F5, Back, another page or browser lose nothing


def wizard() -> None:
    st.caption(tr("bulk.intro"))
    draft.start_over(w)
    listed = source.upload(w)
    if listed is None:
        return
    upload, facts = listed
    source.preview(w, upload, facts)
    mapping = source.columns(w, facts)
    channels = message.channels(w)
    if channels is None:
        return
    choices, picked = channels
    msg = message.message(w, upload, facts, mapping, choices, picked)
    checked = check.check(w, upload, facts, mapping, picked, msg)
    if checked is None:
        return
    ready, found = checked
    check.report(w, found, upload)
    check.cost(w, found)
    check.confirm(w, found, ready)


wizard()
draft.save(w)
if st.session_state.get("bulk_launched"):
    progress.section(w, st.session_state["bulk_launched"])
