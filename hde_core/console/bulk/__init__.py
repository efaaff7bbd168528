"""The bulk wizard's steps (pages/2_bulk.py keeps only their order): upload a list →
preview → columns → channels → message → check (reasons, table, report) → cost → confirm →
live progress → results.

Thin: every count, verdict, page of rows and file comes from :mod:`hde_core.services.bulk`.
The session keeps small things only (the upload's path, the widgets' values, the campaign
key); lists and verdicts stay in the core, so a 100,000-row list never reaches the browser.
Widget keys start with ``bulk_``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import streamlit as st

from hde_core.bootstrap import App
from hde_core.console import ConsoleUser, tr

CSV_MIME = "text/csv"
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
#: Values typed in the wizard survive a step being hidden for a moment (Streamlit forgets
#: the value of a widget that is not drawn in a run).
KEPT = (
    "bulk_channels",
    "bulk_subject",
    "bulk_body",
    "bulk_department",
    "bulk_priority",
    "bulk_template",
    "bulk_name",
)


@dataclass(frozen=True)
class Wizard:
    """What every step needs: the core, who is signed in, the language shown."""

    app: App
    user: ConsoleUser
    lang: str


def keep_values() -> None:
    S = st.session_state
    for key in KEPT:
        if key in S:
            S[key] = S[key]


def reset() -> None:
    """Start over with a new list (the launched campaign goes on, of course): the session's
    values go now, the user's saved draft on the next run (:mod:`.draft`)."""
    S = st.session_state
    round_ = S.get("bulk_round", 0) + 1
    for key in [str(k) for k in S]:
        if key.startswith("bulk_") and not key.startswith("bulk_file_"):
            del S[key]
    S["bulk_round"] = round_
    S["bulk_discard"] = True


def _file_bytes(make: Callable[[str], Path], fmt: str) -> bytes:
    return make(fmt).read_bytes()


def downloads(prefix: str, make: Callable[[str], Path], name: Callable[[str], str]) -> None:
    """CSV and XLSX buttons; the file is written by the core only when one is clicked."""
    left, right, _ = st.columns([1, 1, 3])
    for column, fmt, mime in ((left, "csv", CSV_MIME), (right, "xlsx", XLSX_MIME)):
        column.download_button(
            tr(f"bulk.download.{fmt}"),
            data=partial(_file_bytes, make, fmt),
            file_name=name(fmt),
            mime=mime,
            key=f"{prefix}_{fmt}",
            on_click="ignore",
            icon=":material/download:",
        )
