"""The demo's dispatcher service: started with the demo, it sends what is queued, and stops
cleanly (in-flight sends recorded) with the demo."""

from __future__ import annotations

import time

from sqlalchemy import select

from hde_core.db.models import Message
from hde_core.dispatch.service import DispatcherService
from hde_core.entrypoints.demo import SERVICES
from hde_core.entrypoints.http import HttpServicesService
from hde_core.services.tickets import TicketRequest, create_ticket
from tests.services.helpers import provision_email


def test_the_demo_runs_a_dispatcher_after_the_sandbox_services():
    assert SERVICES[-1] is DispatcherService
    assert SERVICES.index(DispatcherService) > SERVICES.index(HttpServicesService)


def test_queued_messages_go_out_while_it_runs(app, settings, tmp_path, smtp_sink):
    provision_email(app, tmp_path, smtp_sink.url)
    service = DispatcherService(app, settings)
    service.start()
    try:
        ticket = create_ticket(
            app, TicketRequest("email", "a@example.com", "s", "b", fields={"order_id": "1"}), "lead"
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with app.db.reader() as s:
                status = s.scalar(
                    select(Message.status).where(Message.ticket_id == ticket.ticket_id)
                )
            if status == "sent":
                break
            time.sleep(0.1)
        assert status == "sent"
    finally:
        service.stop()
    assert not service._thread.is_alive()
