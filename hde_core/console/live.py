"""Live views: a part of a page that redraws itself in place while what it shows is
running, and stops when it is not (issue 16.5).

Streamlit's fragment (``st.fragment(run_every=…)``) redraws only its own part of the page;
its timer is set when the page runs. :func:`live_view` draws once, and the draw function
returns the pace it wants next (:func:`hde_core.services.live.every`). While the pace
stays the same the fragment keeps redrawing itself; when it changes — the run finished,
was paused, started sending — the page runs once more so that the timer is set anew or
dropped: nothing running, no timer.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from hde_core.console import tr
from hde_core.services.live import Activity, View, every


def live_view(view: View, activity: Activity, draw: Callable[[], Activity]) -> None:
    """Draw ``draw()`` now and, while the view's activity asks for it, again every few
    seconds in place. ``activity`` is the state the page saw before drawing; ``draw``
    returns the state it drew."""
    pace = every(view, activity)

    @st.fragment(run_every=pace)
    def _live() -> None:
        now = every(view, draw())
        if now != pace:
            st.rerun()  # the whole page: set the timer for the new pace, or drop it

    _live()


def refreshing_note(view: View, activity: Activity) -> None:
    """A quiet line saying the view refreshes itself (so nobody presses F5)."""
    pace = every(view, activity)
    if pace is not None:
        st.caption(tr("live.refreshing", seconds=f"{pace:g}"))
