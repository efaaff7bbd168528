"""The wizard's values come back from the user's draft (issue 16.1): F5, Back, another page,
another browser. The draft itself — what is kept, for how long, what a launch does to it —
is :mod:`hde_core.services.bulk.drafts`; this module only moves values between it and the
page's widgets.

Each run: :func:`restore` first (every value the session lacks is taken from the draft: a
new session lacks all, a return from another page lacks the widgets' own), then the steps,
then :func:`save` (written only when something changed).
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from hde_core.console import tr
from hde_core.console.bulk import Wizard, reset
from hde_core.errors import HdeError
from hde_core.services import bulk
from hde_core.services.bulk import drafts

#: Widget values kept in the draft (plus ``bulk_map_<role>`` and ``bulk_param_<name>``).
VALUES = (
    "bulk_channels",
    "bulk_subject",
    "bulk_body",
    "bulk_department",
    "bulk_priority",
    "bulk_template",
    "bulk_column",
    "bulk_name",
    "bulk_checked",
)
_SAVED = "bulk_draft_saved"  # what this session last wrote (a rerun writes only a change)
DISCARD = "bulk_discard"  # set by "start over": the draft goes before anything is restored


def _kept(key: str) -> bool:
    return key in VALUES or key.startswith(("bulk_map_", "bulk_param_"))


def restore(w: Wizard) -> None:
    S = st.session_state
    if S.pop(DISCARD, False):
        drafts.discard_draft(w.app, w.user.login)
        S.pop(_SAVED, None)
        return
    saved = drafts.saved_draft(w.app, w.user.login)
    if saved is None:
        return
    if saved.launched_key and "bulk_launched" not in S:
        S["bulk_launched"] = saved.launched_key
    if saved.upload_lost and "bulk_upload" not in S:
        st.warning(tr("bulk.draft.file_lost"))
    if saved.upload is not None and S.get("bulk_upload") is None:
        try:
            facts = bulk.inspect_upload(w.app, saved.upload)
        except HdeError:
            return  # the list cannot be read any more: the wizard starts from step 1
        S["bulk_upload"], S["bulk_facts"] = saved.upload, facts
        S["bulk_restored"] = True
    if S.get("bulk_upload") is None or S["bulk_upload"].id != (saved.upload and saved.upload.id):
        return  # a list uploaded in this session wins over an older draft
    for key, value in saved.state.items():
        if _kept(key) and key not in S:
            S[key] = value
    S.setdefault(_SAVED, _snapshot(saved.upload, saved.step, saved.state, saved.launched_key))


def _step() -> int:
    S = st.session_state
    if S.get("bulk_upload") is None:
        return drafts.STEP_UPLOAD
    if S.get("bulk_checked"):
        return drafts.STEP_CHECKED
    if (S.get("bulk_subject") or "").strip() and (S.get("bulk_body") or "").strip():
        return drafts.STEP_MESSAGE
    if S.get("bulk_channels"):
        return drafts.STEP_CHANNELS
    return drafts.STEP_MAPPING


def _snapshot(
    upload: bulk.Upload | None, step: int, state: dict[str, Any], launched: str | None
) -> tuple[Any, ...]:
    return (upload.id if upload else None, step, sorted(state.items()), launched)


def save(w: Wizard) -> None:
    """Write the wizard's values into the user's draft if they changed. After a launch the
    draft is consumed (the core keeps the campaign key only) until "new list"."""
    S = st.session_state
    launched = S.get("bulk_launched")
    upload: bulk.Upload | None = S.get("bulk_upload")
    if launched:
        upload, step, state = None, drafts.STEP_UPLOAD, {}
    else:
        step = _step()
        state = {str(k): S[k] for k in S if _kept(str(k)) and S[k] is not None}
    snapshot = _snapshot(upload, step, state, launched)
    if S.get(_SAVED) == snapshot:
        return
    drafts.save_draft(w.app, w.user.login, upload, step, state, launched_key=launched)
    S[_SAVED] = snapshot


def _ask() -> None:
    st.session_state["bulk_discard_ask"] = True


def _cancel() -> None:
    st.session_state.pop("bulk_discard_ask", None)


def start_over(w: Wizard) -> None:
    """ "Start over": discards the draft (file, columns, channels, message) after asking."""
    S = st.session_state
    if S.get("bulk_upload") is None and not S.get("bulk_launched"):
        return
    if not S.get("bulk_discard_ask"):
        st.button(
            tr("bulk.draft.start_over"),
            key="bulk_start_over",
            on_click=_ask,
            icon=":material/restart_alt:",
        )
        return
    with st.container(border=True):
        st.warning(tr("bulk.draft.sure"))
        yes, no, _ = st.columns([2, 1, 3])
        yes.button(tr("bulk.draft.yes"), key="bulk_discard_yes", on_click=reset, type="primary")
        no.button(tr("bulk.draft.no"), key="bulk_discard_no", on_click=_cancel)
