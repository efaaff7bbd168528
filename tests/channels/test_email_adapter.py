"""The email adapter: MIME it builds, SMTP URLs it accepts, and how it classifies answers."""

import asyncio
from email import message_from_bytes, policy

import pytest

from hde_core.channels.base import ChannelConfig, OutgoingMessage
from hde_core.channels.email import (
    EmailAdapter,
    SmtpTarget,
    build_mime,
    classify_smtp,
    mask_smtp_url,
)
from hde_core.domain.channels import ChannelKind, Provider
from hde_core.domain.outcomes import Disconnected, ErrorClass, Fail, Retry, Sent
from hde_core.errors import ConfigError
from hde_core.sandbox.smtp_sink import free_port, wait_for_mail

PAYLOAD = {
    "subject": "Заявка №7: проверка",
    "text": "Текст письма",
    "html": "<p>Текст письма</p>",
    "from_addr": "it@company.com",
    "from_name": "ИТ-отдел",
    "reply_to": "it@company.com",
    "message_id": "<abc@company.com>",
}


def message(recipient="client@example.com", **transport):
    return OutgoingMessage(1, "email", recipient, PAYLOAD, "k1", transport)


def adapter(smtp_url=None):
    creds = {"smtp_url": smtp_url} if smtp_url else {}
    return EmailAdapter(ChannelConfig(1, "email", ChannelKind.EMAIL, Provider.SMTP, None, creds))


def test_mime_is_utf8_text_and_html_with_ids():
    raw = build_mime(message()).as_bytes()
    parsed = message_from_bytes(raw, policy=policy.default)
    assert parsed["Subject"] == "Заявка №7: проверка"
    assert b"=?utf-8?" in raw.lower()  # the header is encoded, not raw 8-bit
    assert parsed["Message-ID"] == "<abc@company.com>"
    assert parsed["Reply-To"] == "it@company.com"
    assert parsed.get_body(("plain",)).get_content().strip() == "Текст письма"
    assert parsed.get_body(("html",)).get_content().strip() == "<p>Текст письма</p>"
    assert "ИТ-отдел" in str(parsed["From"])


@pytest.mark.parametrize(
    ("url", "host", "port", "tls", "starttls", "user"),
    [
        ("smtp://mail.example.com", "mail.example.com", 25, False, None, None),
        ("smtp://u%40x.ru:p%3Ass@mail:587?starttls=required", "mail", 587, False, True, "u@x.ru"),
        ("smtps://u:p@mail", "mail", 465, True, False, "u"),
        ("smtp+starttls://mail:2525", "mail", 2525, False, True, None),
    ],
)
def test_smtp_urls(url, host, port, tls, starttls, user):
    t = SmtpTarget.parse(url)
    assert (t.hostname, t.port, t.use_tls, t.start_tls, t.username) == (
        host,
        port,
        tls,
        starttls,
        user,
    )


@pytest.mark.parametrize(
    "url", ["http://mail", "smtp://", "smtp://host:99999", "smtp://h?timeout=x"]
)
def test_bad_smtp_urls_are_refused(url):
    with pytest.raises(ConfigError):
        SmtpTarget.parse(url)


def test_password_is_masked():
    assert mask_smtp_url("smtp://u:s3cret@h:25") == "smtp://u:••••@h:25"


@pytest.mark.parametrize(
    ("code", "outcome", "error_class"),
    [
        (421, Retry, ErrorClass.TRANSIENT),
        (451, Retry, ErrorClass.TRANSIENT),
        (499, Retry, ErrorClass.TRANSIENT),
        (535, Disconnected, None),
        (550, Fail, ErrorClass.NOT_REACHABLE),
        (552, Fail, ErrorClass.INVALID_REQUEST),
        (599, Fail, ErrorClass.INVALID_REQUEST),
    ],
)
def test_smtp_answers_map_to_the_taxonomy(code, outcome, error_class):
    result = classify_smtp(code, "server says no")
    assert isinstance(result, outcome)
    assert f"{code} server says no" in result.text
    if error_class:
        assert result.error_class == error_class


def test_send_through_real_smtp(smtp_sink):
    result = asyncio.run(adapter().send(message(smtp_url=smtp_sink.url)))
    assert result == Sent("<abc@company.com>")
    assert wait_for_mail(smtp_sink.directory, 1)[0].subject == "Заявка №7: проверка"


def test_refused_recipient_fails_with_server_text(smtp_sink):
    result = asyncio.run(adapter().send(message("bounce@example.com", smtp_url=smtp_sink.url)))
    assert (
        isinstance(result, Fail) and result.code == "550" and "Mailbox unavailable" in result.text
    )


def test_authfail_disconnects_the_channel(smtp_sink):
    result = asyncio.run(adapter().send(message("authfail@example.com", smtp_url=smtp_sink.url)))
    assert isinstance(result, Disconnected) and result.code == "535"


@pytest.mark.process  # connects to a closed port
def test_connection_refused_is_transient():
    result = asyncio.run(
        adapter().send(message(smtp_url=f"smtp://127.0.0.1:{free_port()}?timeout=2"))
    )
    assert isinstance(result, Retry) and result.error_class == ErrorClass.TRANSIENT


@pytest.mark.process
def test_check_connection(smtp_sink):
    assert asyncio.run(adapter(smtp_sink.url).check_connection()).ok
    down = asyncio.run(adapter(f"smtp://127.0.0.1:{free_port()}?timeout=2").check_connection())
    assert not down.ok and down.detail
