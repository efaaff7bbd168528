"""The dispatcher inside ``hde demo`` (``make run``): one :class:`Worker` in a thread of the
demo process, so that what the console queues is sent with no other command to start.

Production runs ``hde worker`` processes instead (any number, on PostgreSQL); this is the
same worker, started and stopped with the demo's other services.
"""

from __future__ import annotations

import logging
import threading

from hde_core.bootstrap import App
from hde_core.config import Settings
from hde_core.dispatch.worker import Worker, WorkerOptions

log = logging.getLogger("hde.demo.dispatcher")

#: Sends in flight at once: plenty for the sandbox, gentle on a laptop's SQLite.
DEMO_CONCURRENCY = 20


class DispatcherService:
    name = "dispatcher"

    def __init__(self, app: App, settings: Settings) -> None:
        self.worker = Worker(app, WorkerOptions(concurrency=DEMO_CONCURRENCY))
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="hde-dispatcher", daemon=True)
        self._thread.start()
        log.info("dispatcher %s started", self.worker.worker_id)

    def _run(self) -> None:
        try:
            stats = self.worker.run_sync()
        except Exception:  # noqa: BLE001 - the demo goes on; the console shows the queue
            log.exception("the dispatcher stopped")
            return
        log.info("dispatcher stopped: %d sent, %d failed", stats.sent, stats.failed)

    def stop(self) -> None:
        """In-flight sends finish and are recorded (see :meth:`Worker.stop`)."""
        self.worker.stop()
        if self._thread is not None:
            self._thread.join(timeout=30)
