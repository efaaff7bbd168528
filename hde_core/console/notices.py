"""Notices that survive a rerun: one way for every page to say what an action did.

Streamlit runs a button's callback before the page, and a page may call ``st.rerun()``
after an action; a message written there with ``st.success`` would be lost. So an action
*flashes* its notice into a slot of the session, and the page *shows* the slot where the
message belongs: each notice appears once, in the order it was flashed.
"""

from __future__ import annotations

from typing import Literal

import streamlit as st

from hde_core.errors import HdeError

Level = Literal["success", "info", "warning", "error"]


def _key(slot: str) -> str:
    return f"notice:{slot}"


def flash(slot: str, level: Level, *lines: str) -> None:
    """Keep one notice for ``slot`` (its non-empty lines, one paragraph each) until shown."""
    text = "\n\n".join(line for line in lines if line)
    if text:
        st.session_state.setdefault(_key(slot), []).append((level, text))


def flash_error(slot: str, exc: HdeError, lang: str) -> None:
    """An error for the user: its message, then its details when it has some (a list)."""
    lines_of = getattr(exc, "lines", None)  # e.g. SettingsInvalid: one line per field
    details: list[str] = lines_of(lang) if callable(lines_of) else []
    flash(slot, "error", exc.message(lang), *(f"- {line}" for line in details))


def show(slot: str) -> None:
    """Show the notices kept for ``slot`` and forget them."""
    for level, text in st.session_state.pop(_key(slot), []):
        getattr(st, level)(text)
