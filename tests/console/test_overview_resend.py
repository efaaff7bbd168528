"""The overview's resend action: a team lead puts an `uncertain` message back in the queue
(SPEC §3); the trail names who did it."""

from sqlalchemy import select

from hde_core.db.models import AuditEvent, Message
from tests.console.conftest import run_page
from tests.console.seed import seeded  # noqa: F401 - fixture


def test_team_lead_resends_an_uncertain_message(console_app, seeded):  # noqa: F811
    at = run_page("app.py", role="team_lead", lang="en")
    assert at.button(key="overview_resend").disabled  # nothing chosen yet
    at.multiselect(key="overview_resend_ids").select(seeded.uncertain_message).run()
    at.button(key="overview_resend").click().run()
    assert not at.exception
    assert at.success[-1].value.startswith("1 message(s) queued again")
    assert "Nothing needs attention." in [s.value for s in at.success]
    with console_app.db.reader() as s:
        assert s.get(Message, seeded.uncertain_message).status == "queued"
        event = s.scalar(
            select(AuditEvent).where(
                AuditEvent.message_id == seeded.uncertain_message,
                AuditEvent.event == "message_resent",
            )
        )
        assert event.actor == "team_lead"
