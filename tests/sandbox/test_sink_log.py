"""Issue 16.9: ``make run`` printed ~55,000 mail-log lines for one campaign. The sink's SMTP
conversations stay out of the terminal; the demo says how many mails came, once a minute at
most."""

import logging
import smtplib
from email.message import EmailMessage

import pytest

from hde_core.bootstrap import configure_logging
from hde_core.sandbox.smtp_sink import MailSummary, SmtpSink, wait_for_mail


def test_a_hundred_mails_through_the_sink_log_nothing_per_mail(tmp_path, caplog):
    configure_logging()
    caplog.set_level(logging.NOTSET)  # capture whatever the loggers let through
    with SmtpSink(tmp_path) as sink, smtplib.SMTP("127.0.0.1", sink.port) as smtp:
        for n in range(100):
            msg = EmailMessage()
            msg["From"], msg["To"], msg["Subject"] = "a@x.example", f"c{n}@y.example", "s"
            msg.set_content("hello")
            smtp.send_message(msg)
        assert len(wait_for_mail(tmp_path, 100)) == 100
        assert sink.handler.received == 100
    noisy = [
        r for r in caplog.records if r.name.startswith("mail.") and r.levelno < logging.WARNING
    ]
    assert noisy == []


@pytest.mark.unit
def test_the_summary_is_one_line_a_minute_at_most_and_silent_when_idle():
    summary = MailSummary(every=60)
    assert summary.line(0, now=0.0) is None
    assert summary.line(500, now=30.0) is None  # not a minute yet
    assert summary.line(900, now=60.0) == ("sandbox SMTP sink: 900 more mail(s), 900 since start")
    assert summary.line(1000, now=90.0) is None
    assert summary.line(1000, now=200.0) == (
        "sandbox SMTP sink: 100 more mail(s), 1000 since start"
    )
    assert summary.line(1000, now=400.0) is None  # nothing new: nothing said
