"""The bulk wizard as a draft per user (issue 16.1): kept in the database until launched or
discarded, the list's bytes on disk and safe from pruning while a draft names them, one
draft per user, a launch consumes it and launching its values again sends nothing twice."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from hde_core.db.models import AuditEvent, BulkDraft, Message
from hde_core.errors import PermissionDenied
from hde_core.services import audit, bulk, bulk_runs
from hde_core.services.authz import SYSTEM
from hde_core.services.bulk import drafts
from hde_core.services.users import add_user
from tests.services.bulk_helpers import BODY, LIST, PHONE, SUBJECT, setup_bulk
from tests.services.test_bulk import wait_launch


@pytest.fixture(autouse=True)
def _fresh_caches():
    bulk.forget_cached()
    yield
    bulk.forget_cached()


@pytest.fixture
def lead_app(app, tmp_path, smtp_sink):
    setup_bulk(app, tmp_path, smtp_sink.url)  # with the staff: "lead" and "agent"
    return app


STATE = {
    "bulk_map_phone": PHONE,
    "bulk_channels": ["email"],
    "bulk_subject": SUBJECT,
    "bulk_body": BODY,
    "bulk_priority": "high",
}


def test_a_draft_comes_back_whole_for_its_user_only(lead_app):
    upload = drafts.upload_list(lead_app, "lead", LIST.name, LIST.read_bytes())
    drafts.save_draft(lead_app, "lead", upload, drafts.STEP_MESSAGE, STATE)

    back = drafts.saved_draft(lead_app, "lead")
    assert back is not None and back.upload == upload and back.step == drafts.STEP_MESSAGE
    assert back.state == STATE and back.launched_key is None
    assert Path(back.upload.path).read_bytes() == LIST.read_bytes()
    assert drafts.saved_draft(lead_app, "agent") is None  # another user's wizard is empty

    drafts.save_draft(lead_app, "lead", upload, drafts.STEP_CHANNELS, {"bulk_channels": []})
    with lead_app.db.reader() as s:  # one draft per user: saved again, not added
        assert s.scalar(select(func.count()).select_from(BulkDraft)) == 1
    assert drafts.saved_draft(lead_app, "lead").state == {"bulk_channels": []}


def test_a_viewer_has_no_draft(lead_app):
    add_user(lead_app, "watcher", "viewer", "correct-horse-42", SYSTEM)
    with pytest.raises(PermissionDenied):
        drafts.save_draft(lead_app, "watcher", None, drafts.STEP_UPLOAD, {})
    with pytest.raises(PermissionDenied):
        drafts.upload_list(lead_app, "watcher", "a.csv", b"Email\na@b.ru\n")


def test_discarding_drops_the_draft_and_its_list(lead_app):
    upload = drafts.upload_list(lead_app, "lead", LIST.name, LIST.read_bytes())
    drafts.save_draft(lead_app, "lead", upload, drafts.STEP_MAPPING, {})
    assert drafts.discard_draft(lead_app, "lead") is True
    assert drafts.saved_draft(lead_app, "lead") is None
    assert not Path(upload.path).exists()
    assert drafts.discard_draft(lead_app, "lead") is False  # twice (two tabs): no error


def test_pruning_keeps_a_drafts_list_and_drops_stale_drafts(lead_app, clock):
    kept = drafts.upload_list(lead_app, "lead", LIST.name, LIST.read_bytes())
    drafts.save_draft(lead_app, "lead", kept, drafts.STEP_MAPPING, {})
    orphan = drafts.upload_list(lead_app, "agent", "other.csv", b"Email\na@b.ru\n")
    long_ago = time.time() - bulk.KEEP_UPLOADS_SECONDS - 60
    for upload in (kept, orphan):
        os.utime(Path(upload.path).parent, (long_ago, long_ago))

    drafts.upload_list(lead_app, "agent", "new.csv", b"Email\na@b.ru\n")
    assert Path(kept.path).exists()  # a draft still names it
    assert not Path(orphan.path).exists()

    clock.advance(seconds=drafts.KEEP_DRAFTS_SECONDS + 60)
    drafts.upload_list(lead_app, "agent", "newer.csv", b"Email\na@b.ru\n")
    assert drafts.saved_draft(lead_app, "lead") is None  # untouched for a month: gone
    assert not Path(kept.path).exists()


def test_a_draft_whose_list_is_gone_says_so(lead_app):
    upload = drafts.upload_list(lead_app, "lead", LIST.name, LIST.read_bytes())
    drafts.save_draft(lead_app, "lead", upload, drafts.STEP_MESSAGE, STATE)
    Path(upload.path).unlink()
    back = drafts.saved_draft(lead_app, "lead")
    assert back.upload is None and back.upload_lost and back.state == STATE


def test_launching_consumes_the_draft_and_a_relaunch_sends_nothing_twice(lead_app):
    upload = drafts.upload_list(lead_app, "lead", LIST.name, LIST.read_bytes())
    drafts.save_draft(lead_app, "lead", upload, drafts.STEP_CHECKED, STATE)
    facts = bulk.inspect_upload(lead_app, upload)
    ready = bulk.make_draft(upload, {**facts.mapping, "phone": PHONE}, ["email"], SUBJECT, BODY)

    key = bulk_runs.start_launch(lead_app, ready, "lead")
    first = wait_launch(key)
    assert first.result.tickets_created == 3
    back = drafts.saved_draft(lead_app, "lead")
    assert back.launched_key == key and back.upload is None and back.state == {}

    # the same values restored in another tab and launched again: nobody gets a second one
    assert bulk_runs.start_launch(lead_app, ready, "lead") == key
    again = wait_launch(key)
    assert (again.result.tickets_created, again.result.already_queued) == (0, 3)
    with lead_app.db.reader() as s:
        assert s.scalar(select(func.count()).select_from(Message)) == 3
        events = list(
            s.scalars(
                select(AuditEvent.event).where(
                    AuditEvent.event.in_(
                        [audit.Event.CAMPAIGN_RELAUNCHED.value, audit.Event.CAMPAIGN_LAUNCHED.value]
                    )
                )
            )
        )
        launched = s.scalars(
            select(AuditEvent.data).where(AuditEvent.event == audit.Event.CAMPAIGN_LAUNCHED.value)
        ).all()
    assert events.count(audit.Event.CAMPAIGN_RELAUNCHED.value) == 1
    assert launched[-1]["tickets_created"] == 0 and launched[-1]["already_queued"] == 3
