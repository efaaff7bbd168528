"""The shared token bucket: capacity, and a clock that never runs backwards."""

from datetime import timedelta

from hde_core.dispatch.ratelimit import bucket_capacity, lock_bucket, refill
from tests.dispatch.helpers import provision_telegram


def test_capacity_keeps_headroom_for_send_jitter():
    assert [bucket_capacity(b) for b in (1, 2, 8, 20, 1000)] == [1, 1, 2, 5, 250]
    start = refill(0.0, _t(0), _t(10), rate=200, burst=20)
    assert start == 5  # a long idle spell never lets more than the capacity out at once


def _t(seconds: float):
    from datetime import UTC, datetime

    return datetime(2026, 11, 26, tzinfo=UTC) + timedelta(seconds=seconds)


def test_a_late_reader_does_not_refill_the_same_span_twice(app, tmp_path, clock):
    channel = provision_telegram(app, tmp_path, "http://127.0.0.1:9", name="c", rate=10, burst=400)
    t0 = clock.now()
    with app.db.transaction() as s:  # the bucket is created at t0 (holding its capacity)
        lock_bucket(s, channel, 10, 400, t0, skip_locked=False)
    with app.db.transaction() as s:  # worker A refills at t0 + 10 s and takes 60 of 100
        a = lock_bucket(s, channel, 10, 400, t0 + timedelta(seconds=10), skip_locked=False)
        assert a.available == 100
        a.spend(60)
    with app.db.transaction() as s:  # worker B read its clock at t0 + 9 s, got the lock after A
        b = lock_bucket(s, channel, 10, 400, t0 + timedelta(seconds=9), skip_locked=False)
        assert b.available == 40
        b.spend(40)
    with app.db.transaction() as s:  # one second after A: one second of tokens, not two
        c = lock_bucket(s, channel, 10, 400, t0 + timedelta(seconds=11), skip_locked=False)
        assert c.available == 10
