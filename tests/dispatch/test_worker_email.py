"""The dispatcher over real SMTP (aiosmtpd sink): sent, 4xx retried, 5xx failed with the
server's words, refused credentials disconnect the channel — on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import select

from hde_core.db.models import Channel
from hde_core.dispatch.worker import Worker, WorkerOptions
from hde_core.sandbox.smtp_sink import wait_for_mail
from hde_core.services.tickets import TicketRequest, create_ticket
from tests.dispatch.helpers import message
from tests.services.helpers import provision_email


def test_email_outcomes_through_the_dispatcher(app, tmp_path, smtp_sink):
    provision_email(app, tmp_path, smtp_sink.url)
    ids = {}
    for who in ("anna", "tempfail", "bounce", "authfail"):
        result = create_ticket(
            app,
            TicketRequest(
                channel="email",
                to=f"{who}@example.com",
                subject="Заказ",
                body="Готов",
                fields={"order_id": "1"},
            ),
            "alice",
        )
        ids[who] = result.messages[0].id
    Worker(app, WorkerOptions(until_idle=True, run_periodic_jobs=False)).run_sync()

    (mail,) = wait_for_mail(smtp_sink.directory, 1)
    assert mail.to_header == "anna@example.com"
    sent = message(app, ids["anna"])
    assert (sent.status, sent.provider_message_id) == ("sent", mail.message_id)

    retrying = message(app, ids["tempfail"])
    assert (retrying.status, retrying.error_code) == ("retrying", "451")

    failed = message(app, ids["bounce"])
    assert (failed.status, failed.error_class) == ("failed", "not_reachable")
    assert failed.error_text.startswith("550 5.1.1")

    waiting = message(app, ids["authfail"])
    assert (waiting.status, waiting.attempts) == ("queued", 0)
    with app.db.reader() as s:
        channel = s.scalar(select(Channel).where(Channel.name == "email"))
        assert channel.connection_status == "error"
        assert channel.connection_error.startswith("535")
