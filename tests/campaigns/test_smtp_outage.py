"""A short SMTP outage (issue 14.6): the mail server down for a moment is "unreachable",
not a refused configuration. ``hde send`` still queues every row, the dispatcher retries,
and once the server is back every message arrives — with a real SMTP sink stopped and
started again on the same port, on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import select

from hde_core.db.models import Channel, Message
from hde_core.dispatch.worker import Worker, WorkerOptions
from hde_core.sandbox.smtp_sink import SmtpSink, mail_dir, wait_for_mail
from hde_core.services import campaigns as svc
from hde_core.services.channel_checks import check_channels, periodic_check
from tests.services.helpers import provision_email

LIST = (
    "Email;Имя;order_id\n"
    "anna@example.com;Анна;A-1\n"
    "boris@example.com;Борис;A-2\n"
    "dina@example.com;Дина;A-6\n"
).encode()


def _run(app) -> None:
    Worker(app, WorkerOptions(until_idle=True, run_periodic_jobs=False)).run_sync()


def _channel(app) -> Channel:
    with app.db.reader() as s:
        return s.scalars(select(Channel).where(Channel.name == "email")).one()


def test_a_short_smtp_outage_queues_the_rows_and_they_go_out_when_it_ends(
    app, tmp_path, data_dir, clock
):
    sink = SmtpSink(mail_dir(data_dir)).start()
    provision_email(app, tmp_path, sink.url)
    check_channels(app, ["email"], actor="admin")
    assert _channel(app).connection_status == "connected"
    sink.stop()  # the mail server goes down

    periodic_check(app)  # the dispatcher's periodic check runs during the outage
    channel = _channel(app)
    assert channel.connection_status == "unreachable"
    assert channel.connection_error  # what the check saw, for the console

    result = svc.launch(
        app,
        svc.SendRequest(
            source=LIST,
            filename="clients.csv",
            channels=["email"],
            subject="Заказ {{ order_id }}",
            body="{{ Имя }}, ваш заказ {{ order_id }} готов.",
        ),
        "lead",
    )
    assert (result.tickets_created, result.messages_created) == (3, 3)  # nothing refused
    assert result.summary["reasons"]["channel_unavailable"] == 0

    _run(app)  # the dispatcher tries, the server is still down: they wait for a retry
    with app.db.reader() as s:
        assert set(s.scalars(select(Message.status))) == {"retrying"}

    sink = SmtpSink(mail_dir(data_dir), port=sink.port).start()  # the outage ends
    try:
        clock.advance(minutes=30)  # past the retry backoff
        _run(app)
        assert len(wait_for_mail(sink.directory, 3)) == 3
        with app.db.reader() as s:
            assert set(s.scalars(select(Message.status))) == {"sent"}
        (checked,) = check_channels(app, ["email"], actor="admin")
        assert checked.ok and _channel(app).connection_status == "connected"
    finally:
        sink.stop()


def test_refused_smtp_credentials_still_disconnect_the_channel(app, tmp_path, data_dir):
    with SmtpSink(mail_dir(data_dir)) as sink:  # a server that speaks no TLS: a config error
        provision_email(app, tmp_path, sink.url.replace("smtp://", "smtps://"))
        periodic_check(app)
    assert _channel(app).connection_status == "error"
