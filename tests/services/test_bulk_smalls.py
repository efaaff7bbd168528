"""The wizard's small points of issue 16.9, each as the team lead meets it: the cost step
says why no template is paid for in words that match the channels picked."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from hde_core.db.models import Channel
from hde_core.services import bulk
from tests.lists.helpers import add_identity
from tests.services.bulk_helpers import SUBJECT, setup_bulk


@pytest.fixture(autouse=True)
def _fresh_caches():
    bulk.forget_cached()
    yield
    bulk.forget_cached()


@pytest.fixture
def lead_app(app, tmp_path, smtp_sink):
    setup_bulk(app, tmp_path, smtp_sink.url)
    return app


def checked(app, data: bytes, channels):
    upload = bulk.store_upload(app, "list.csv", data)
    facts = bulk.inspect_upload(app, upload)
    return bulk.check(app, bulk.make_draft(upload, facts.mapping, channels, SUBJECT, "Добрый день"))


def test_no_paid_templates_is_explained_by_what_was_picked(lead_app, clock):
    email_only = checked(lead_app, b"Email;Phone\nanna@example.ru;+79161234567\n", ["email"])
    assert email_only.template_messages == 0
    assert bulk.cost_note(email_only, "ru") == (
        "Платных шаблонных сообщений не будет: в рассылке нет WhatsApp Business."
    )

    # WhatsApp Business picked as the fallback, but email reaches everyone
    unused = checked(
        lead_app,
        b"Email;Phone\nanna@example.ru;+79161234567\n",
        ["email", "whatsapp-business"],
    )
    note = bulk.cost_note(unused, "ru")
    assert "нет WhatsApp Business" not in note  # it IS in the run (the reported bug)
    assert "WhatsApp Business (whatsapp-business) в рассылке" in note

    # WhatsApp Business reaches a client whose window is open: no template needed
    with lead_app.db.reader() as s:
        wa = s.scalar(select(Channel.id).where(Channel.name == "whatsapp-business"))
    add_identity(lead_app, wa, "+79990001122", clock, last_inbound=timedelta(hours=1))
    open_window = checked(lead_app, b"Phone\n+79990001122\n", ["whatsapp-business"])
    assert open_window.template_messages == 0 and open_window.summary["eligible"] == 1
    assert bulk.cost_note(open_window, "en") == (
        "No paid template messages: all 1 clients on WhatsApp Business (whatsapp-business)"
        " have an open window, so no template is needed."
    )
