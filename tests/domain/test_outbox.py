"""The ticket → messages rule (R5–R7, R12) as a pure function."""

from dataclasses import dataclass

import pytest

from hde_core.domain.channels import ChannelKind
from hde_core.domain.outbox import Part, Sender, TemplateRef, messages_for
from hde_core.domain.reasons import Action
from hde_core.domain.statuses import MessageStatus as S

TEMPLATE = TemplateRef("hello", "ru", "POSITIONAL", "UTILITY")


@dataclass
class Email:
    subject: str = "[#7] Заказ"
    text: str = "Текст"
    html: str = "<p>Текст</p>"


def test_email_is_one_message_from_the_department_mailbox():
    [m] = messages_for(
        ChannelKind.EMAIL,
        7,
        email=Email(),
        sender=Sender(3, "First line", "support@company.com"),
        notification="agent_initiated",
        email_message_id="<x@company.com>",
    )
    assert (m.part, m.kind, m.status, m.after_first) == (Part.EMAIL, "email", S.QUEUED, False)
    assert m.payload == {
        "subject": "[#7] Заказ",
        "text": "Текст",
        "html": "<p>Текст</p>",
        "from_addr": "support@company.com",
        "from_name": "First line",
        "reply_to": "support@company.com",
        "message_id": "<x@company.com>",
        "department_id": 3,
        "template": "agent_initiated",
        "headers": {"X-HDE-Ticket": "7"},
    }


@pytest.mark.parametrize("action", [None, Action.SEND])
def test_open_messenger_is_one_text(action):
    [m] = messages_for(ChannelKind.TELEGRAM, 7, text="Привет", action=action)
    assert (m.part, m.kind, m.status, m.payload) == (
        Part.TEXT,
        "text",
        S.QUEUED,
        {"text": "Привет"},
    )


@pytest.mark.parametrize(
    ("action", "content"),
    [(Action.TEMPLATE_THEN_HOLD, S.HELD), (Action.TEMPLATE_THEN_SEND, S.QUEUED)],
)
def test_closed_window_is_the_template_then_the_content(action, content):
    first, second = messages_for(
        ChannelKind.WA_BUSINESS,
        7,
        text="Привет",
        action=action,
        template=TEMPLATE,
        params={"1": "Анна"},
    )
    assert (first.part, first.kind, first.status, first.category) == (
        Part.TEMPLATE,
        "template",
        S.QUEUED,
        "utility",
    )
    assert first.payload == {
        "template_name": "hello",
        "language": "ru",
        "params": {"1": "Анна"},
        "parameter_format": "POSITIONAL",
    }
    assert (second.part, second.status, second.after_first) == (Part.TEXT, content, True)
    assert second.payload == {"text": "Привет"}


def test_missing_inputs_are_a_programming_error():
    with pytest.raises(ValueError):
        messages_for(ChannelKind.EMAIL, 7)
    with pytest.raises(ValueError):
        messages_for(ChannelKind.WA_BUSINESS, 7, action=Action.TEMPLATE_THEN_SEND)
