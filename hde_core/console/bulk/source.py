"""Steps 1–3 of the bulk wizard: the list, its preview, which column is what."""

from __future__ import annotations

import streamlit as st

from hde_core.console import tr
from hde_core.console.bulk import Wizard
from hde_core.console.widgets import file_picker
from hde_core.console.words import encoding as encoding_words
from hde_core.errors import HdeError
from hde_core.services import bulk
from hde_core.services.bulk import drafts


def _file_changed() -> None:
    st.session_state["bulk_file_event"] = True


def upload(w: Wizard) -> tuple[bulk.Upload, bulk.ListFacts] | None:
    """1. The list: stored and inspected once per file; None until there is a good one. A
    list from the user's draft (F5, another page, another browser) is on the server
    already: the uploader is empty then, and the list is named under it."""
    S = st.session_state
    st.subheader(tr("bulk.step.upload"))
    limit = w.app.settings.upload_limit_mb
    file = file_picker(  # our words, not Streamlit's English; the core checks the type
        tr("bulk.upload.label"),
        tr("words.upload_button"),
        tr("words.upload_limits", limit=limit),
        limit_mb=limit,
        key=f"bulk_file_{S.get('bulk_round', 0)}",
        help=tr("bulk.upload.help", limit=limit),
        on_change=_file_changed,
    )
    removed = S.pop("bulk_file_event", False) and file is None
    if file is None:
        if removed or S.get("bulk_upload") is None:
            for key in ("bulk_upload", "bulk_facts", "bulk_file_id", "bulk_checked"):
                S.pop(key, None)
            S.pop("bulk_upload_error", None)
            return None
        kept: bulk.Upload = S["bulk_upload"]
        st.info(tr("bulk.draft.kept_file", name=kept.name, rows=S["bulk_facts"].rows))
        return kept, S["bulk_facts"]
    if S.get("bulk_file_id") != file.file_id:
        S["bulk_file_id"] = file.file_id
        # a new list starts a new run: the last launch stays on the campaigns page
        for key in (
            "bulk_upload",
            "bulk_facts",
            "bulk_checked",
            "bulk_upload_error",
            "bulk_launched",
        ):
            S.pop(key, None)
        try:
            with st.spinner(tr("bulk.upload.reading")):
                stored = drafts.upload_list(w.app, w.user.login, file.name, file.getvalue())
                inspected = bulk.inspect_upload(w.app, stored)
        except HdeError as exc:
            S["bulk_upload_error"] = exc.message(w.lang)
        else:
            S["bulk_upload"], S["bulk_facts"] = stored, inspected
            for role in bulk.ROLES:
                S[f"bulk_map_{role}"] = inspected.mapping.get(role, "")
    if S.get("bulk_upload_error"):
        st.error(S["bulk_upload_error"])
        return None
    return S["bulk_upload"], S["bulk_facts"]


def preview(w: Wizard, upload: bulk.Upload, facts: bulk.ListFacts) -> None:
    """2. What was read: format, rows, the first rows as the core sees them."""
    st.subheader(tr("bulk.step.preview"))
    if facts.format == "xlsx":
        st.markdown(tr("bulk.preview.xlsx", name=facts.name, rows=facts.rows, sheet=facts.sheet))
    else:
        delimiter = {"\t": tr("cli.validate.tab")}.get(facts.delimiter or "", facts.delimiter)
        st.markdown(
            tr(
                "bulk.preview.csv",
                name=facts.name,
                rows=facts.rows,
                encoding=encoding_words(facts.encoding),
                delimiter=delimiter,
            )
        )
    st.dataframe(
        bulk.preview_rows(w.app, upload, facts.mapping),
        hide_index=True,
        key="bulk_preview",
        height=min(38 + 35 * min(facts.rows, bulk.PREVIEW_ROWS), 420),
    )
    if facts.rows > bulk.PREVIEW_ROWS:
        st.caption(tr("bulk.preview.first", shown=bulk.PREVIEW_ROWS, rows=facts.rows))


def columns(w: Wizard, facts: bulk.ListFacts) -> dict[str, str]:
    """3. Which column holds the email, phone, … (as guessed or remembered; changeable)."""
    S = st.session_state
    st.subheader(tr("bulk.step.mapping"))
    st.caption(tr(f"bulk.mapping.source.{facts.mapping_source}"))
    none = tr("bulk.mapping.none")
    options = ["", *facts.headers]
    mapping: dict[str, str] = {}
    for column, role in zip(st.columns(len(bulk.ROLES)), bulk.ROLES, strict=True):
        key = f"bulk_map_{role}"
        if S.get(key) not in options:
            S[key] = ""
        mapping[role] = column.selectbox(
            tr(f"lists.role.{role}"), options, key=key, format_func=lambda v: v or none
        )
    others = [h for h in facts.headers if h not in mapping.values()]
    if others:
        st.caption(tr("bulk.mapping.others", columns=", ".join(others)))
    # no column to reach anyone by: said here, not after the message is written
    for gap in bulk.mapping_gaps(w.app, mapping, S.get("bulk_channels") or []):
        roles = tr("bulk.gap.or").join(f"«{tr(f'lists.role.{r}')}»" for r in gap.roles)
        if gap.channel:
            st.warning(tr("bulk.gap.channel", channel=gap.channel, roles=roles))
        else:
            st.warning(tr("bulk.gap.none", roles=roles))
    return mapping
