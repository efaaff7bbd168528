"""The dispatcher against a loopback Telegram (real sockets, the real adapter): sent,
retried, rate-limited, failed with the provider's words, channel disconnected — on
SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from hde_core.db.models import AuditEvent, Channel, ContactIdentity
from hde_core.dispatch.claim import claim, new_worker_id
from hde_core.dispatch.immediate import deliver_now
from hde_core.dispatch.record import record_outcomes
from hde_core.dispatch.worker import Worker, WorkerOptions
from hde_core.domain.outcomes import Disconnected, ErrorClass, Fail, Hold, Retry, Sent
from hde_core.errors import PermissionDenied
from hde_core.services.authz import SYSTEM
from hde_core.services.messages import expire_leases, resend
from hde_core.services.users import add_user
from tests.dispatch.helpers import enqueue, message, provision_telegram, statuses


def run(app, **options):
    options.setdefault("until_idle", True)
    options.setdefault("run_periodic_jobs", False)
    return Worker(app, WorkerOptions(**options)).run_sync()


def events(app, message_id):
    with app.db.reader() as s:
        return [
            (e.event, e.data)
            for e in s.scalars(
                select(AuditEvent)
                .where(AuditEvent.message_id == message_id)
                .order_by(AuditEvent.id)
            )
        ]


@pytest.fixture
def tg(app, tmp_path, fake):
    return provision_telegram(app, tmp_path, fake.url, rate=1000, burst=100, max_attempts=3)


def test_every_message_is_sent_once_with_the_provider_id(app, tg, fake):
    ids = enqueue(app, tg, list(range(1001, 1061)))
    stats = run(app)
    assert stats.sent == 60
    assert statuses(app) == {"sent": 60}
    assert sorted(c.text for c in fake.calls) == sorted(f"m-{c}" for c in range(1001, 1061))
    first = message(app, ids[0])
    assert first.provider_message_id.startswith("1001:")
    assert first.sent_at is not None and first.lease_owner is None
    assert [e for e, _ in events(app, ids[0])] == ["message_sending", "message_sent"]


def test_server_error_is_retried_with_backoff_then_sent(app, tg, fake, clock):
    fake.script(2001, "500")
    (mid,) = enqueue(app, tg, [2001])
    run(app)
    m = message(app, mid)
    assert m.status == "retrying"
    assert m.error_code == "500" and m.attempts == 1
    assert m.next_attempt_at > clock.now() + timedelta(seconds=1)
    run(app)  # not due yet: nothing happens
    assert len(fake.calls) == 1
    clock.advance(minutes=20)
    run(app)
    assert message(app, mid).status == "sent"
    assert len(fake.calls) == 2
    assert [e for e, _ in events(app, mid)] == [
        "message_sending",
        "message_retrying",
        "message_sending",
        "message_sent",
    ]


def test_timeout_is_retried(app, tg, fake, clock):
    fake.script(2101, "sleep:1.5")
    (mid,) = enqueue(app, tg, [2101])
    run(app, http_timeout=0.3)
    m = message(app, mid)
    assert (m.status, m.error_class, m.error_code) == ("retrying", "transient", "timeout")
    clock.advance(minutes=20)
    run(app, http_timeout=0.3)
    assert message(app, mid).status == "sent"


def test_attempts_run_out_then_failed_with_the_providers_text(app, tg, fake, clock):
    fake.script(2201, "500", "500", "500", "ok")
    (mid,) = enqueue(app, tg, [2201])
    for _ in range(3):
        run(app)
        clock.advance(hours=1)
    m = message(app, mid)
    assert (m.status, m.attempts) == ("failed", 3)
    assert m.error_text == "500 Internal Server Error"
    assert events(app, mid)[-1][1]["attempts_exhausted"] is True
    run(app)
    assert len(fake.calls) == 3  # a failed message is never sent again


def test_permanent_error_fails_at_once_and_records_the_opt_out(app, tg, fake):
    fake.script(2301, "403")
    (mid,) = enqueue(app, tg, [2301])
    run(app)
    m = message(app, mid)
    assert (m.status, m.error_class) == ("failed", "not_reachable")
    assert m.error_text == "403 Forbidden: bot was blocked by the user"
    with app.db.reader() as s:
        identity = s.get(ContactIdentity, m.identity_id)
        assert identity.opted_out_at is not None  # R15


def test_too_many_requests_pauses_the_channel_for_the_time_asked(app, tg, fake, clock):
    fake.script(2401, "429:30")
    first, second = enqueue(app, tg, [2401, 2402])
    run(app, concurrency=1, batch=1)
    m = message(app, first)
    assert (m.status, m.error_class, m.attempts) == ("retrying", "rate_limited", 0)
    with app.db.reader() as s:
        paused = s.get(Channel, tg).paused_until
    assert timedelta(seconds=29) < paused - clock.now() <= timedelta(seconds=30)
    assert message(app, second).status == "queued"  # the whole channel waits
    assert len(fake.calls) == 1
    clock.advance(seconds=31)
    run(app)
    assert statuses(app) == {"sent": 2}


def test_rejected_token_disconnects_the_channel_and_messages_wait(app, tg, fake, clock):
    fake.default = "401"
    ids = enqueue(app, tg, [2501, 2502, 2503])
    run(app)
    with app.db.reader() as s:
        channel = s.get(Channel, tg)
        assert channel.connection_status == "error"
        assert "401" in channel.connection_error
    assert statuses(app) == {"queued": 3}
    assert all(message(app, i).attempts == 0 for i in ids)
    calls = len(fake.calls)
    clock.advance(minutes=5)
    run(app)
    assert len(fake.calls) == calls  # nothing is sent on a disconnected channel
    fake.default = "ok"
    with app.db.transaction() as s:  # the periodic check finds the channel connected again
        s.get(Channel, tg).connection_status = "connected"
    run(app)
    assert statuses(app) == {"sent": 3}


def test_messages_to_the_same_chat_keep_its_pacing(app, tg, fake, clock):
    with app.db.transaction() as s:  # a minute between two messages to one chat
        channel = s.get(Channel, tg)
        channel.settings = {**channel.settings, "per_recipient_interval": 60}
    enqueue(app, tg, [2601], prefix="a")
    enqueue(app, tg, [2601], prefix="b")
    run(app)  # the first goes; the second waits for the chat's pacing, so nothing is due
    assert statuses(app) == {"sent": 1, "queued": 1}
    assert [c.text for c in fake.calls if c.chat_id == 2601] == ["a-2601"]
    clock.advance(seconds=30)
    run(app)
    assert statuses(app) == {"sent": 1, "queued": 1}
    clock.advance(seconds=31)
    run(app)
    assert statuses(app) == {"sent": 2}
    assert [c.text for c in fake.calls if c.chat_id == 2601] == ["a-2601", "b-2601"]


def test_three_workers_share_one_rate_limit(app, tmp_path, fake):
    channel = provision_telegram(app, tmp_path, fake.url, name="slow", rate=40, burst=4)
    enqueue(app, channel, list(range(3001, 3081)))
    workers = [
        Worker(app, WorkerOptions(until_idle=True, run_periodic_jobs=False)) for _ in range(3)
    ]
    threads = [threading.Thread(target=w.run_sync) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert statuses(app) == {"sent": 80}
    assert len(fake.calls) == 80
    # one worker sends the channel, at one pace: no one-second window of arrivals at the
    # provider holds more than the limit plus the burst
    times = sorted(c.at for c in fake.calls)
    j = 0
    worst = 0
    for i, start in enumerate(times):
        while times[j] < start - 1.0:
            j += 1
        worst = max(worst, i - j + 1)
    assert worst <= 40 + 4
    assert times[-1] - times[0] >= (80 - 4) / 40 - 0.2  # and it really was paced
    assert sorted(w.stats.sent for w in workers) == [0, 0, 80]  # one sender per channel


def test_expired_lease_becomes_uncertain_and_only_a_team_lead_resends(app, tg, fake, clock):
    ids = enqueue(app, tg, [2701, 2702])
    crashed = claim(app, new_worker_id(), limit=10, lease=timedelta(seconds=30), borrow=True)
    assert len(crashed) == 2  # claimed, then the worker "died" before sending
    clock.advance(seconds=31)
    assert expire_leases(app) == 2
    assert statuses(app) == {"uncertain": 2}
    run(app)
    assert fake.calls == []  # never resent by itself
    add_user(app, "agent1", "agent", "password-123", SYSTEM)  # "lead" is in the staff
    with pytest.raises(PermissionDenied):
        resend(app, ids, "agent1")
    result = resend(app, [ids[0], 999_999], "lead")
    assert result.resent == [ids[0]] and result.refused == {999_999: "not_found"}
    run(app)
    assert message(app, ids[0]).status == "sent"
    assert message(app, ids[1]).status == "uncertain"
    assert ("message_resent", {}) in [(e, d) for e, d in events(app, ids[0])]
    with app.db.reader() as s:
        actor = s.scalar(
            select(AuditEvent.actor).where(
                AuditEvent.message_id == ids[0], AuditEvent.event == "message_resent"
            )
        )
    assert actor == "lead"


def test_a_slow_workers_late_answer_still_counts(app, tg, clock):
    enqueue(app, tg, [2801])
    (slow,) = claim(app, "slow-worker", limit=1, lease=timedelta(seconds=10), borrow=True)
    clock.advance(seconds=11)
    expire_leases(app)
    record_outcomes(app, [(slow, Sent("2801:77"))])
    m = message(app, slow.message.id)
    assert (m.status, m.provider_message_id) == ("sent", "2801:77")


@pytest.mark.parametrize(
    ("outcome", "status"),
    [
        (Retry(ErrorClass.TRANSIENT, "500", "late 500"), "uncertain"),  # never resent by itself
        (Hold("window", "closed"), "uncertain"),
        (Fail(ErrorClass.NOT_REACHABLE, "403", "blocked"), "failed"),
        (Disconnected("401", "token revoked"), "uncertain"),
    ],
)
def test_a_late_answer_moves_an_uncertain_message_only_as_the_table_allows(
    app, tg, clock, outcome, status
):
    enqueue(app, tg, [2802])
    (slow,) = claim(app, "slow-worker", limit=1, lease=timedelta(seconds=10), borrow=True)
    clock.advance(seconds=11)
    expire_leases(app)
    record_outcomes(app, [(slow, outcome)])
    assert message(app, slow.message.id).status == status


def test_stop_finishes_what_is_in_flight_and_claims_nothing_more(app, tg, fake):
    fake.script(2901, "sleep:1")
    first, later = enqueue(app, tg, [2901, 2902])
    worker = Worker(app, WorkerOptions(run_periodic_jobs=False, concurrency=1, batch=1))
    thread = threading.Thread(target=worker.run_sync)
    thread.start()
    deadline = time.monotonic() + 10
    while not fake.calls and time.monotonic() < deadline:
        time.sleep(0.01)
    worker.stop()  # what SIGTERM does
    thread.join(10)
    assert not thread.is_alive()
    assert message(app, first).status == "sent"  # the answer that was on its way is recorded
    assert message(app, later).status == "queued"  # and nothing new was claimed


def test_deliver_now_from_code_that_already_runs_an_event_loop(app, tg, fake):
    (mid,) = enqueue(app, tg, [3001])

    async def caller() -> None:  # an async caller, or Streamlit running the page in a loop
        asyncio.get_running_loop()
        deliver_now(app, [mid])  # the synchronous call, made inside the running loop

    asyncio.run(caller())
    m = message(app, mid)
    assert (m.status, m.provider_message_id[:5]) == ("sent", "3001:")
    assert [c.text for c in fake.delivered()] == ["m-3001"]
