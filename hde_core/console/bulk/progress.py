"""Step 10 of the bulk wizard: the launched campaign, live (launch, then messages per
status), its controls, then the results file."""

from __future__ import annotations

import streamlit as st

from hde_core.console import charts, tr
from hde_core.console.bulk import Wizard, downloads, reset
from hde_core.console.controls import Controls, campaign_controls
from hde_core.console.live import live_view, refreshing_note
from hde_core.console.nav import existing_pages
from hde_core.console.notices import show
from hde_core.domain.campaigns import ShownStatus
from hde_core.domain.roles import Permission
from hde_core.domain.statuses import MessageStatus
from hde_core.errors import HdeError
from hde_core.services import bulk, bulk_runs
from hde_core.services.live import Activity, View

CAMPAIGNS_PAGE = "pages/3_campaigns.py"
CONTROLS = Controls(
    prefix="bulk",
    texts="bulk.progress",
    sure="bulk.progress.cancel_sure",
    slot="bulk",
    say_done=False,  # the progress itself shows the new stage
)


def section(w: Wizard, key: str) -> None:
    st.subheader(tr("bulk.step.progress"))
    try:
        first = bulk_runs.progress(w.app, key)
    except HdeError as exc:
        st.warning(exc.message(w.lang))
        return
    shown = [first]

    def panel() -> Activity:
        # the page's own reading first, then a fresh one on every refresh
        state = shown.pop() if shown else bulk_runs.progress(w.app, key)
        draw(w, state)
        refreshing_note(View.PROGRESS, state.activity)
        return state.activity

    live_view(View.PROGRESS, first.activity, panel)
    st.button(tr("bulk.new_list"), key="bulk_new", on_click=reset, icon=":material/restart_alt:")


def outcome_line(state: bulk_runs.Progress) -> str:
    """What was sent of all, then every other outcome that is not zero ("Отправлено 54 из
    4580 · отменено: 4526")."""
    out = state.outcomes
    parts = [tr("live.progress.sent", sent=out.pop("sent"), total=state.total)]
    parts += [tr(f"live.progress.{name}", count=n) for name, n in out.items() if n]
    return " · ".join(parts)


def draw(w: Wizard, state: bulk_runs.Progress) -> None:
    lang = w.lang
    st.markdown(
        tr(
            "bulk.progress.campaign",
            name=state.name or state.key,
            campaign=state.key,
            status=tr(f"bulk.stage.{state.stage}"),
        )
    )
    if state.error is not None:
        st.error(tr("bulk.progress.failed", error=state.error.message(lang)))
    if state.creating:
        if state.phase == "validate" or not state.to_create:
            st.progress(0.0, text=tr("bulk.progress.validating"))
        else:
            st.progress(
                min(state.created / state.to_create, 1.0),
                text=tr("bulk.progress.creating", done=state.created, total=state.to_create),
            )
    if state.campaign_id is None:
        return
    st.progress(state.fraction, text=outcome_line(state))
    if state.total:
        charts.status_split([("", state.counts)], key="bulk_outcomes", axis=False)
    statuses = [s.value for s in MessageStatus]
    for row in (statuses[:5], statuses[5:]):
        for column, name in zip(st.columns(len(row)), row, strict=True):
            column.metric(tr(f"status.{name}"), state.counts.get(name, 0))
    show(CONTROLS.slot)
    if state.stage == ShownStatus.CANCELLED:
        st.warning(tr("bulk.progress.cancelled", count=state.counts.get("cancelled", 0)))
    elif state.stage == "complete":  # not while held messages still wait for replies
        st.success(
            tr(
                "bulk.progress.finished",
                sent=sum(state.counts.get(s, 0) for s in ("sent", "delivered", "read")),
                failed=state.counts.get("failed", 0),
                held=state.counts.get("held", 0),
            )
        )
    if state.counts.get("held"):
        st.info(tr("bulk.progress.held", count=state.counts["held"]))
    if state.interrupted:
        st.warning(tr("bulk.progress.interrupted", tickets=state.tickets, eligible=state.eligible))
    if w.user.can(Permission.BULK_SEND) and not state.creating and not state.finished:
        campaign_controls(w.app, w.user.login, state.key, state.status, CONTROLS)
    # -- results ---------------------------------------------------------------------------
    st.markdown(tr("bulk.results.title"))
    downloads(
        "bulk_results",
        lambda fmt: bulk_runs.results_file(w.app, state.key, fmt, lang),
        lambda fmt: f"{bulk.safe_file_name(state.key)}-results.{fmt}",
    )
    has_campaigns_page = any(p.path == CAMPAIGNS_PAGE for p in existing_pages())
    if has_campaigns_page and st.button(tr("bulk.results.open_campaign"), key="bulk_open_campaign"):
        st.session_state["cp_campaign"] = state.campaign_id  # the campaigns page's own widget
        st.switch_page(CAMPAIGNS_PAGE)
