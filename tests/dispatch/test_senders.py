"""One sender per channel (issue 14.2): a channel is sent by one worker at a time, and
another takes it over when that worker lets go — on SQLite and PostgreSQL."""

from __future__ import annotations

from hde_core.dispatch import senders
from hde_core.dispatch.senders import SenderLocks


def test_a_channel_has_one_sender_and_another_takes_over(app, monkeypatch):
    monkeypatch.setattr(senders, "RETRY", 0.0)  # try again at once (the test has no time)
    a, b = SenderLocks(app), SenderLocks(app)
    try:
        assert a.holds(1) is True
        assert b.holds(1) is False  # a sends channel 1
        assert b.holds(2) is True  # b may send another channel
        assert a.holds(2) is False
        a.release_all()  # a stops (or dies: its connection / file closes)
        assert b.holds(1) is True
        assert a.holds(1) is False
    finally:
        a.release_all()
        b.release_all()
