"""SPEC §3: statuses only move forward; repeats change nothing."""

import pytest

from hde_core.domain.statuses import MessageStatus as S
from hde_core.domain.statuses import accepts_provider_status, can_dispatch_move


@pytest.mark.parametrize(
    ("current", "reported", "accepted"),
    [
        (S.SENT, S.DELIVERED, True),
        (S.DELIVERED, S.READ, True),
        (S.SENT, S.READ, True),
        (S.READ, S.DELIVERED, False),  # a late delivered never overwrites read
        (S.DELIVERED, S.DELIVERED, False),  # a repeated webhook changes nothing
        (S.READ, S.READ, False),
        (S.DELIVERED, S.SENT, False),
        (S.SENT, S.FAILED, True),
        (S.DELIVERED, S.FAILED, False),
        (S.FAILED, S.DELIVERED, True),  # multi-device: proof of delivery wins
        (S.FAILED, S.FAILED, False),
        (S.QUEUED, S.DELIVERED, False),
        (S.HELD, S.READ, False),
        (S.UNCERTAIN, S.DELIVERED, True),  # proof the provider had it
    ],
)
def test_provider_status_moves_forward_only(current, reported, accepted):
    assert accepts_provider_status(current, reported) is accepted


def test_dispatcher_never_resends_uncertain_by_itself():
    assert not can_dispatch_move(S.UNCERTAIN, S.SENDING)
    assert can_dispatch_move(S.UNCERTAIN, S.QUEUED)  # a team lead's resend
    assert not can_dispatch_move(S.SENT, S.SENDING)
    assert can_dispatch_move(S.SENDING, S.UNCERTAIN)


def test_every_outcome_leads_to_a_move_the_table_allows_from_sending():
    from hde_core.domain.outcomes import OUTCOME_STATUS
    from hde_core.domain.statuses import recordable_from

    for target in OUTCOME_STATUS.values():
        assert S.SENDING in recordable_from(target)
    # a worker that was only slow may still record what the provider proved or refused
    assert recordable_from(S.SENT) == (S.SENDING, S.UNCERTAIN)
    assert recordable_from(S.FAILED) == (S.SENDING, S.UNCERTAIN)
    assert recordable_from(S.RETRYING) == (S.SENDING,)  # never resent by itself
