"""Small helpers for the console's choice widgets.

Streamlit calls a ``format_func`` later, outside the script run, where the session's
language is unknown: so labels are translated first and the function only picks one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any


def blank_as(label: str) -> Callable[[str], str]:
    """Show the empty choice ("", meaning "all" or "none" or "new") as ``label``."""
    return lambda value: value or label


def optional_select(
    label: str,
    options: Sequence[str],
    blank: str,
    *,
    key: str,
    current: str | None = None,
    where: Any = None,
) -> str:
    """A choice among ``options`` with an empty first choice shown as ``blank`` ("all",
    "none" or "new"); starts on ``current`` when it is one of them. Returns "" for the
    empty choice. ``where``: a column or container (default: the page)."""
    import streamlit as st

    choices = ["", *options]
    return str(
        (where or st).selectbox(
            label,
            choices,
            index=choices.index(current) if current in choices else 0,
            format_func=blank_as(blank),
            key=key,
        )
    )


def page_number(label: str, pages: int, key: str) -> int:
    """A page picker that stays within 1…``pages`` when a filter shortens the list (a stored
    page number above the new maximum would otherwise stop the script)."""
    import streamlit as st

    if int(st.session_state.get(key) or 1) > pages:
        st.session_state[key] = pages
    return int(st.number_input(label, min_value=1, max_value=pages, value=1, step=1, key=key))


#: Streamlit's uploader speaks English only ("Upload", "Drag and drop…", "200MB per file •
#: CSV, …"): its texts are hidden and the button says ours (``--hde-upload``, set per
#: language); the limits are said under it in the user's language (issue 16.8).
_UPLOADER_CSS = """<style>
[data-testid="stFileUploaderDropzoneInstructions"] { display: none; }
[data-testid="stFileUploaderDropzone"] button { visibility: hidden; }
[data-testid="stFileUploaderDropzone"] button::after {
  visibility: visible; content: "%s"; position: absolute; inset: 0;
  display: flex; align-items: center; justify-content: center;
  border: 1px solid rgba(49, 51, 63, 0.2); border-radius: 0.5rem;
}
</style>"""


def file_picker(
    label: str,
    button: str,
    limits: str,
    *,
    limit_mb: int,
    key: str,
    on_change: Any = None,
    help: str | None = None,
) -> Any:
    """A single-file uploader that speaks the user's language: ``button`` on its button,
    ``limits`` under it. Any file type is accepted here: the core checks what it is and
    says why it is not a list (Streamlit's own check would say it in English)."""
    import streamlit as st

    st.html(_UPLOADER_CSS % button.replace('"', "'"))
    file = st.file_uploader(
        label, type=None, max_upload_size=limit_mb, key=key, help=help, on_change=on_change
    )
    st.caption(limits)
    return file
