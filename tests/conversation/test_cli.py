"""`hde tickets …` and `hde reply` as a user runs them (real processes, SQLite, the SMTP
sink): an email client's reply lands in its ticket, the agent answers it by email in the
same thread (In-Reply-To), once per submission key; a viewer is refused."""

from __future__ import annotations

import json
from email import message_from_bytes, policy

import pytest
from sqlalchemy import select

from hde_core.bootstrap import bootstrap
from hde_core.db.models import Message
from hde_core.domain import events as ev
from hde_core.sandbox.smtp_sink import wait_for_mail
from hde_core.services.webhooks import record_events
from tests.conftest import add_cli_user, make_settings
from tests.entrypoints.test_cli import hde
from tests.services.helpers import provision_text


@pytest.fixture
def env(cli_env, tmp_path, smtp_sink):
    assert hde(cli_env, "provision", str(provision_text(tmp_path, smtp_sink.url))).returncode == 0
    return cli_env


def client_answers(env, data_dir, ticket_id, text):
    """The client's mail program answers our email (what `hde mail-in` records)."""
    app = bootstrap(make_settings(env["HDE_DATABASE_URL"], data_dir))
    try:
        with app.db.reader() as s:
            ours = s.scalar(select(Message).where(Message.ticket_id == ticket_id))
            channel_id, message_id = ours.channel_id, ours.provider_message_id
        event = ev.InboundMessage(
            address="anna@example.com",
            provider_message_id="<answer-1@example.com>",
            at=app.clock.now(),
            text=text,
            subject="Re: Заказ",
            reply_to=(message_id,),
        )
        record_events(app, channel_id, [event])
        return message_id
    finally:
        app.close()


def test_list_show_and_reply_by_email_in_the_same_thread(env, data_dir, smtp_sink):
    made = hde(
        env, "ticket", "--channel", "email", "--to", "anna@example.com", "--subject", "Заказ",
        "--body", "Заказ готов", "--field", "order_id=A-1", "--json",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    ticket_id = json.loads(made.stdout)["ticket_id"]
    ours = client_answers(env, data_dir, ticket_id, "Спасибо! Когда можно забрать?")

    listed = hde(env, "tickets", "list", "--status", "replied", "--json")
    assert listed.returncode == 0, listed.stderr
    page = json.loads(listed.stdout)
    assert [t["id"] for t in page["tickets"]] == [ticket_id]
    assert page["counts"]["replied"] == 1

    add_cli_user(env["HDE_DATABASE_URL"], "watcher", "viewer")
    refused = hde({**env, "HDE_ACTOR": "watcher"}, "reply", str(ticket_id), "--body", "Привет")
    assert refused.returncode == 2 and "viewer" in refused.stderr

    args = ("reply", str(ticket_id), "--body", "Завтра с 10:00.", "--submission-key", "k-1")
    answered = hde(env, *args, "--json")
    assert answered.returncode == 0, answered.stderr
    again = hde(env, *args, "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["duplicate"] is True
    mails = wait_for_mail(smtp_sink.directory, 2)
    assert len(mails) == 2  # the first email and one answer, not two
    (answer,) = [m for m in mails if m.subject == "Re: Заказ"]
    raw = message_from_bytes(answer.path.read_bytes(), policy=policy.default)
    assert raw["In-Reply-To"] == "<answer-1@example.com>"
    assert ours in raw["References"]
    assert raw["Subject"] == "Re: Заказ"

    shown = hde(env, "tickets", "show", str(ticket_id), "--json")
    thread = json.loads(shown.stdout)
    assert thread["ticket"]["status"] == "in_progress"
    assert [e["ours"] for e in thread["thread"]] == [True, False, True]
    assert thread["thread"][1]["text"] == "Спасибо! Когда можно забрать?"
