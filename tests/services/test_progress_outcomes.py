"""A bulk run's progress says what actually happened (issue 16.9): after a cancel the bar is
the share actually sent, not "4580 of 4580" full, and the run stops refreshing; a run
whose sent messages wait for replies keeps refreshing (issue 16.5)."""

from __future__ import annotations

from sqlalchemy import select, update

from hde_core.db.models import Message
from hde_core.services import bulk_runs, campaigns
from hde_core.services.live import Activity
from tests.services.test_bulk import draft, lead_app, wait_launch  # noqa: F401 - fixture


def test_a_cancelled_run_shows_sent_and_cancelled_not_a_full_bar(lead_app):  # noqa: F811
    key = bulk_runs.start_launch(lead_app, draft(lead_app, channels=("email",)), "lead")
    assert wait_launch(key).error is None
    with lead_app.db.transaction() as s:  # the dispatcher got one out before the cancel
        first = s.scalar(select(Message.id).order_by(Message.id).limit(1))
        s.execute(update(Message).where(Message.id == first).values(status="sent"))
    running = bulk_runs.progress(lead_app, key)
    assert running.activity == Activity.SENDING  # two still queued: refresh every second
    campaigns.cancel(lead_app, key, "lead")

    state = bulk_runs.progress(lead_app, key)
    assert state.total == 3 and state.settled == 3  # every message is final…
    assert state.fraction == 1 / 3  # …but only one was sent: the bar says a third
    assert state.outcomes == {
        "sent": 1,
        "failed": 0,
        "cancelled": 2,
        "held": 0,
        "uncertain": 0,
        "pending": 0,
    }
    assert state.stage == "cancelled" and state.activity == Activity.IDLE  # no timer any more


def test_held_messages_keep_the_progress_live_until_the_campaign_is_done(lead_app):  # noqa: F811
    key = bulk_runs.start_launch(lead_app, draft(lead_app, channels=("email",)), "lead")
    assert wait_launch(key).error is None
    with lead_app.db.transaction() as s:
        s.execute(update(Message).values(status="sent"))
        held = s.scalar(select(Message.id).order_by(Message.id).limit(1))
        s.execute(update(Message).where(Message.id == held).values(status="held"))
    state = bulk_runs.progress(lead_app, key)
    # the "ждёт ответа 2" froze here: finished for the dispatcher, not for the client
    assert state.finished and state.stage == "waiting"
    assert state.activity == Activity.WAITING
    with lead_app.db.transaction() as s:  # the client replied: released and sent
        s.execute(update(Message).where(Message.id == held).values(status="sent"))
    assert bulk_runs.progress(lead_app, key).activity == Activity.WAITING  # until marked done
    campaigns.finish_campaigns(lead_app)
    done = bulk_runs.progress(lead_app, key)
    assert done.status == "done" and done.activity == Activity.IDLE and done.fraction == 1.0
