"""Campaign tests dispatch too: the same ticking, movable clock as the dispatcher tests."""

from tests.dispatch.conftest import LiveClock, clock, fake  # noqa: F401
