"""Pause, resume and cancel a campaign: the one set of buttons the campaigns page and the
bulk wizard's progress both draw. Which buttons appear follows the campaign lifecycle of
:mod:`hde_core.domain.campaigns`; the service refuses a move all the same."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from hde_core.bootstrap import App
from hde_core.console import current_lang, tr
from hde_core.console.notices import flash, flash_error
from hde_core.domain.campaigns import CampaignStatus, ShownStatus, can_move
from hde_core.errors import HdeError
from hde_core.services import campaigns

#: The stored status behind each shown one ("scheduled" is running with a start ahead,
#: "interrupted" a launch whose process stopped).
STORED = {
    ShownStatus.SCHEDULED: CampaignStatus.RUNNING,
    ShownStatus.INTERRUPTED: CampaignStatus.LAUNCHING,
} | {ShownStatus(s.value): s for s in CampaignStatus}


@dataclass(frozen=True)
class Controls:
    """Where the buttons are drawn: widget keys ``{prefix}_pause`` … ``{prefix}_cancel_sure``,
    labels from the i18n section ``texts`` (pause, resume, cancel) and ``sure``; notices go
    to ``slot``, and a successful action is announced when ``say_done``."""

    prefix: str
    texts: str
    sure: str
    slot: str
    say_done: bool = True


def moves(shown: str) -> list[str]:
    """The actions a team lead may take on a campaign shown as ``shown``."""
    try:
        stored = STORED[ShownStatus(shown)]
    except ValueError:  # e.g. "starting": the campaign is not written yet
        return []
    found = []
    if can_move(stored, CampaignStatus.PAUSED):
        found.append("pause")
    if stored == CampaignStatus.PAUSED and can_move(stored, CampaignStatus.RUNNING):
        found.append("resume")
    if can_move(stored, CampaignStatus.CANCELLED):
        found.append("cancel")
    return found


def _act(app: App, action: str, key: str, actor: str, spec: Controls) -> None:
    fn = {"pause": campaigns.pause, "resume": campaigns.resume, "cancel": campaigns.cancel}[action]
    try:
        result = fn(app, key, actor)
    except HdeError as exc:
        flash_error(spec.slot, exc, current_lang())
        return
    if spec.say_done:
        flash(spec.slot, "success", tr(f"campaigns_page.done.{action}", count=result.cancelled_now))


def campaign_controls(app: App, actor: str, key: str, shown: str, spec: Controls) -> None:
    """The buttons the campaign's status allows (nothing when none does)."""
    allowed = moves(shown)
    if not allowed:
        return
    left, middle, right = st.columns([1, 1, 2])
    for action in ("resume", "pause"):
        if action in allowed:
            left.button(
                tr(f"{spec.texts}.{action}"),
                key=f"{spec.prefix}_{action}",
                on_click=_act,
                args=(app, action, key, actor, spec),
            )
    if "cancel" in allowed:
        sure = right.checkbox(tr(spec.sure), key=f"{spec.prefix}_cancel_sure")
        middle.button(
            tr(f"{spec.texts}.cancel"),
            key=f"{spec.prefix}_cancel",
            disabled=not sure,
            on_click=_act,
            args=(app, "cancel", key, actor, spec),
        )
