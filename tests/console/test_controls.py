"""The campaign buttons follow the campaign lifecycle (domain.campaigns): what is offered is
what the service accepts, for every status the console may show."""

from __future__ import annotations

import pytest

from hde_core.console.controls import moves
from hde_core.domain.campaigns import CampaignStatus, ShownStatus, can_move


@pytest.mark.parametrize(
    ("shown", "offered"),
    [
        (ShownStatus.RUNNING, ["pause", "cancel"]),
        (ShownStatus.SCHEDULED, ["pause", "cancel"]),
        (ShownStatus.PAUSED, ["resume", "cancel"]),
        (ShownStatus.LAUNCHING, ["cancel"]),
        (ShownStatus.INTERRUPTED, ["cancel"]),  # the way out of a launch that died
        (ShownStatus.DONE, []),
        (ShownStatus.CANCELLED, []),
        ("starting", []),  # the bulk wizard, before the campaign exists
    ],
)
def test_buttons_offered_per_shown_status(shown: str, offered: list[str]) -> None:
    assert moves(shown) == offered


def test_every_offered_move_is_allowed_by_the_lifecycle() -> None:
    target = {
        "pause": CampaignStatus.PAUSED,
        "resume": CampaignStatus.RUNNING,
        "cancel": CampaignStatus.CANCELLED,
    }
    stored = {ShownStatus.SCHEDULED: "running", ShownStatus.INTERRUPTED: "launching"}
    for shown in ShownStatus:
        for action in moves(shown):
            assert can_move(stored.get(shown, shown.value), target[action]), (shown, action)
