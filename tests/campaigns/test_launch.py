"""``hde send`` as a service: one ticket per eligible row, placeholders, the single-ticket
email rules, relaunch and concurrent launches without duplicates, schedule, pause, cancel
— on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from hde_core.db.models import AuditEvent, Campaign, Message, Ticket
from hde_core.dispatch.worker import Worker, WorkerOptions
from hde_core.errors import Refused, UsageError
from hde_core.sandbox.smtp_sink import wait_for_mail
from hde_core.services import campaigns as svc
from hde_core.services.campaigns import launching
from tests.services.helpers import provision_email

LIST = (
    "Email;Имя;order_id\n"
    "anna@example.com;Анна;A-1\n"
    "boris@example.com;Борис;A-2\n"
    "not-an-email;Вера;A-3\n"
    " anna@EXAMPLE.com ;Анна again;A-4\n"
    "gleb@example.com;Глеб;\n"
    "dina@example.com;Дина;A-6\n"
).encode()


def request(**kw):
    base = dict(
        source=LIST,
        filename="clients.csv",
        channels=["email"],
        subject="Заказ {{ order_id }}",
        body="{{ Имя }}, ваш заказ {{ order_id }} готов.",
    )
    base.update(kw)
    return svc.SendRequest(**base)


def count(app, model, **where):
    with app.db.reader() as s:
        stmt = select(func.count()).select_from(model)
        for k, v in where.items():
            stmt = stmt.where(getattr(model, k) == v)
        return s.scalar(stmt)


@pytest.fixture
def email_app(app, tmp_path, smtp_sink):
    provision_email(app, tmp_path, smtp_sink.url)
    return app


def test_one_ticket_per_eligible_row_with_placeholders_filled(email_app, smtp_sink):
    result = svc.launch(email_app, request(), "lead")
    assert result.summary["rows"] == 6
    assert result.summary["eligible"] == 3
    assert result.summary["reasons"]["invalid_email"] == 1
    assert result.summary["reasons"]["duplicate"] == 1
    assert result.summary["reasons"]["missing_field"] == 1  # gleb has no order_id
    assert (result.tickets_created, result.messages_created) == (3, 3)
    with email_app.db.reader() as s:
        tickets = {t.subject: t for t in s.scalars(select(Ticket))}
        assert set(tickets) == {"Заказ A-1", "Заказ A-2", "Заказ A-6"}
        assert tickets["Заказ A-2"].body == "Борис, ваш заказ A-2 готов."
        assert tickets["Заказ A-2"].fields == {"order_id": "A-2"}  # the required custom field
        trail = [e.event for e in s.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert trail.count("ticket_created") == 3 and trail.count("message_queued") == 3
    Worker(email_app, WorkerOptions(until_idle=True, run_periodic_jobs=False)).run_sync()
    mails = {m.to_header: m for m in wait_for_mail(smtp_sink.directory, 3)}
    anna = mails["anna@example.com"]
    # the department's mailbox and the "agent initiated" template, like a single ticket (R5-R7)
    assert anna.from_header == "First line <support@company.com>"
    assert anna.subject.endswith("] Заказ A-1")
    assert "Анна, ваш заказ A-1 готов." in anna.text
    report = svc.campaign_report(email_app, result.campaign_key)
    assert report.messages["sent"] == 3 and report.tickets == 3


def test_launching_again_creates_nothing_twice(email_app):
    first = svc.launch(email_app, request(), "lead")
    again = svc.launch(email_app, request(), "lead")
    assert again.campaign_key == first.campaign_key and not again.created
    assert (again.tickets_created, again.messages_created, again.already_queued) == (0, 0, 3)
    assert count(email_app, Ticket) == 3 and count(email_app, Message) == 3
    bigger = LIST + "eva@example.com;Ева;A-7\n".encode()
    more = svc.launch(email_app, request(source=bigger, campaign_key=first.campaign_key), "lead")
    assert (more.tickets_created, more.already_queued) == (1, 3)
    assert count(email_app, Message) == 4


def test_two_launches_at_the_same_moment_create_no_duplicate(email_app):
    rows = "".join(f"c{i}@example.com;C{i};O-{i}\n" for i in range(600))
    source = ("Email;Имя;order_id\n" + rows).encode()
    results, errors = [], []

    def go():
        try:
            results.append(
                svc.launch(email_app, request(source=source, campaign_key="same"), "lead")
            )
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert count(email_app, Message) == 600 and count(email_app, Ticket) == 600
    assert sum(r.tickets_created for r in results) == 600


def test_many_chunks_keep_the_list_order_and_a_failed_chunk_is_filled_by_relaunch(
    email_app, monkeypatch
):
    """Chunks are written two at a time on PostgreSQL: the tickets still follow the list,
    progress counts up to the total, and a chunk that fails leaves the others whole; the
    relaunch adds exactly what is missing."""
    monkeypatch.setattr(launching, "CHUNK", 7)
    rows = "".join(f"c{i}@example.com;C{i};O-{i}\n" for i in range(60))
    source = ("Email;Имя;order_id\n" + rows).encode()
    real = launching._write_chunk
    failed = []

    def flaky(app, plan, campaign_id, chunk, *args):
        if chunk[0].values["order_id"] == "O-21" and not failed:
            failed.append(chunk[0].row_number)
            raise OSError("disk full")
        return real(app, plan, campaign_id, chunk, *args)

    monkeypatch.setattr(launching, "_write_chunk", flaky)
    with pytest.raises(OSError, match="disk full"):
        svc.launch(email_app, request(source=source, campaign_key="big"), "lead")
    written = count(email_app, Ticket)
    assert written % 7 == 0 and 21 <= written < 60  # whole chunks only, the failed one absent
    seen = []
    again = svc.launch(
        email_app,
        request(source=source, campaign_key="big"),
        "lead",
        progress=lambda stage, done, total: seen.append((stage, done, total)),
    )
    assert again.tickets_created == 60 - written and again.already_queued == written
    creates = [done for stage, done, _ in seen if stage == "create"]
    assert creates == sorted(creates) and creates[-1] == 60
    with email_app.db.reader() as s:
        orders = [f["order_id"] for f in s.scalars(select(Ticket.fields).order_by(Ticket.id))]
        keys = list(s.scalars(select(Message.idempotency_key)))
    assert sorted(orders) == sorted(f"O-{i}" for i in range(60))
    assert len(keys) == len(set(keys)) == 60
    # apart from the chunk filled in afterwards, the tickets follow the list
    gap = {f"O-{i}" for i in range(21, 28)}
    assert [o for o in orders if o not in gap] == [
        f"O-{i}" for i in range(60) if f"O-{i}" not in gap
    ]


def test_key_reused_for_another_message_is_refused(email_app):
    svc.launch(email_app, request(campaign_key="k1"), "lead")
    with pytest.raises(Refused):
        svc.launch(email_app, request(campaign_key="k1", body="Другой текст"), "lead")
    assert count(email_app, Message) == 3


@pytest.mark.parametrize(
    ("kw", "key"),
    [
        ({"subject": "Заказ {{ nope }}"}, "campaigns.error.unknown_placeholder"),
        ({"body": "{{ Имя "}, "campaigns.error.placeholder_syntax"),
        ({"subject": " "}, "campaigns.error.subject_required"),
        ({"params": {"1": "Имя"}}, "campaigns.error.params_without_template"),
        ({"department": "Nowhere"}, "campaigns.error.department_not_found"),
    ],
)
def test_bad_request_is_refused_before_anything_is_written(email_app, kw, key):
    with pytest.raises(UsageError) as exc:
        svc.launch(email_app, request(**kw), "lead")
    assert exc.value.key == key
    assert count(email_app, Ticket) == 0


def test_dry_run_writes_nothing(email_app):
    result = svc.launch(email_app, request(dry_run=True), "lead")
    assert result.summary["eligible"] == 3 and result.tickets_created == 0
    assert count(email_app, Ticket) == 0


def test_scheduled_campaign_waits_for_its_time(email_app, clock, smtp_sink):
    result = svc.launch(email_app, request(scheduled_at=clock.now() + timedelta(hours=1)), "lead")
    assert svc.campaign_report(email_app, result.campaign_key).status == "scheduled"
    Worker(email_app, WorkerOptions(until_idle=True, run_periodic_jobs=False)).run_sync()
    assert count(email_app, Message, status="queued") == 3
    clock.advance(hours=1, seconds=1)
    Worker(email_app, WorkerOptions(until_idle=True, run_periodic_jobs=False)).run_sync()
    assert count(email_app, Message, status="sent") == 3


def test_pause_resume_and_cancel(email_app):
    key = svc.launch(email_app, request(), "lead").campaign_key
    assert svc.pause(email_app, key, "lead").status == "paused"
    Worker(email_app, WorkerOptions(until_idle=True, run_periodic_jobs=False)).run_sync()
    assert count(email_app, Message, status="queued") == 3
    assert svc.resume(email_app, key, "lead").status == "running"
    svc.pause(email_app, key, "lead")
    report = svc.cancel(email_app, key, "lead")
    assert report.status == "cancelled" and report.cancelled_now == 3
    assert report.messages["cancelled"] == 3
    Worker(email_app, WorkerOptions(until_idle=True, run_periodic_jobs=False)).run_sync()
    assert count(email_app, Message, status="cancelled") == 3
    with pytest.raises(Refused):
        svc.launch(email_app, request(campaign_key=key), "lead")


def test_finished_campaign_is_done(email_app):
    key = svc.launch(email_app, request(), "lead").campaign_key
    assert svc.finish_campaigns(email_app) == 0
    Worker(email_app, WorkerOptions(until_idle=True, run_periodic_jobs=False)).run_sync()
    assert svc.finish_campaigns(email_app) == 1
    assert svc.campaign_report(email_app, key).status == "done"


def test_controls_refuse_a_move_the_lifecycle_does_not_allow(email_app):
    key = svc.launch(email_app, request(), "lead").campaign_key
    assert svc.resume(email_app, key, "lead").status == "running"  # a repeat changes nothing
    Worker(email_app, WorkerOptions(until_idle=True, run_periodic_jobs=False)).run_sync()
    svc.finish_campaigns(email_app)
    for control, reason in [
        (svc.pause, "cannot_pause"),
        (svc.resume, "cannot_resume"),
        (svc.cancel, "cannot_cancel"),
    ]:
        with pytest.raises(Refused) as err:
            control(email_app, key, "lead")
        assert err.value.key == f"campaigns.error.{reason}"
        assert err.value.params["status"] == "done"
    assert svc.campaign_report(email_app, key).status == "done"
    events = count(email_app, AuditEvent, event="campaign_cancelled")
    assert events == 0


def many(n: int, prefix: str = "c") -> bytes:
    rows = "".join(f"{prefix}{i}@example.com;C{i};O-{i}\n" for i in range(n))
    return ("Email;Имя;order_id\n" + rows).encode()


def test_a_campaign_cannot_finish_while_its_launch_writes(email_app, monkeypatch):
    """Issue 14.1: the periodic finish runs between the launch's chunks (as a worker's
    would): the campaign is launching, not done, until every message is written."""
    monkeypatch.setattr(launching, "CHUNK", 5)
    real = launching._write_chunk
    seen = []

    def write_then_finish(app, plan, campaign_id, chunk, *args):
        seen.append((svc.finish_campaigns(app), svc.campaign_report(app, plan.key).status))
        return real(app, plan, campaign_id, chunk, *args)

    monkeypatch.setattr(launching, "_write_chunk", write_then_finish)
    result = svc.launch(email_app, request(source=many(23), campaign_key="slow"), "lead")
    assert seen == [(0, "launching")] * 5
    assert result.status == "running" and result.messages_created == 23
    assert svc.finish_campaigns(email_app) == 0  # 23 queued
    Worker(email_app, WorkerOptions(until_idle=True, run_periodic_jobs=False)).run_sync()
    assert svc.finish_campaigns(email_app) == 1
    assert count(email_app, Message, status="sent") == 23
    assert count(email_app, AuditEvent, event="campaign_launched") == 1


def test_an_interrupted_launch_is_shown_and_a_relaunch_completes_it(email_app, monkeypatch):
    monkeypatch.setattr(launching, "CHUNK", 5)
    real = launching._write_chunk

    def dies_on_third(app, plan, campaign_id, chunk, *args):
        if chunk[0].values["order_id"] == "O-10":
            raise OSError("killed")
        return real(app, plan, campaign_id, chunk, *args)

    monkeypatch.setattr(launching, "_write_chunk", dies_on_third)
    with pytest.raises(OSError):
        svc.launch(email_app, request(source=many(23), campaign_key="cut"), "lead")
    report = svc.campaign_report(email_app, "cut")
    # whole chunks only (on PostgreSQL the chunk after the failed one may be written)
    assert report.status == "interrupted" and report.total in (10, 15)
    assert svc.finish_campaigns(email_app) == 0
    with pytest.raises(Refused) as err:
        svc.pause(email_app, "cut", "lead")
    assert err.value.key == "campaigns.error.cannot_pause_launching"
    monkeypatch.setattr(launching, "_write_chunk", real)
    again = svc.launch(email_app, request(source=many(23), campaign_key="cut"), "lead")
    assert again.status == "running" and again.tickets_created == 23 - report.total
    assert svc.campaign_report(email_app, "cut").total == 23
    with email_app.db.reader() as s:
        relaunched = s.scalars(
            select(AuditEvent).where(AuditEvent.event == "campaign_relaunched")
        ).one()
    assert relaunched.data["was"] == "interrupted"


def test_a_launch_stalled_for_long_is_shown_interrupted(email_app, clock, monkeypatch):
    monkeypatch.setattr(launching, "CHUNK", 5)
    real = launching._write_chunk

    def stall(app, plan, campaign_id, chunk, *args):
        if chunk[0].values["order_id"] == "O-5":
            assert svc.campaign_report(app, plan.key).status == "launching"
            clock.advance(minutes=3)  # the process hung, or died: nothing written for long
            assert svc.campaign_report(app, plan.key).status == "interrupted"
        return real(app, plan, campaign_id, chunk, *args)

    monkeypatch.setattr(launching, "_write_chunk", stall)
    assert svc.launch(email_app, request(source=many(12)), "lead").status == "running"


def test_cancel_during_a_launch_stops_it(email_app, monkeypatch):
    monkeypatch.setattr(launching, "CHUNK", 5)
    real = launching._write_chunk

    def cancel_after_first(app, plan, campaign_id, chunk, *args):
        if chunk[0].values["order_id"] == "O-5":
            svc.cancel(app, plan.key, "lead")
        return real(app, plan, campaign_id, chunk, *args)

    monkeypatch.setattr(launching, "_write_chunk", cancel_after_first)
    with pytest.raises(Refused) as err:
        svc.launch(email_app, request(source=many(23), campaign_key="stop"), "lead")
    assert err.value.key == "campaigns.error.cancelled_during_launch"
    report = svc.campaign_report(email_app, "stop")
    # whole chunks only (on PostgreSQL the first may still be writing when the cancel
    # comes: then it is refused too), every one of their messages cancelled
    assert report.status == "cancelled" and report.total in (0, 5)
    assert report.messages["cancelled"] == report.total


def test_a_done_campaign_launched_again_with_more_rows_sends_them(email_app):
    key = svc.launch(email_app, request(source=many(4), campaign_key="grow"), "lead").campaign_key
    Worker(email_app, WorkerOptions(until_idle=True, run_periodic_jobs=False)).run_sync()
    assert svc.finish_campaigns(email_app) == 1
    again = svc.launch(email_app, request(source=many(9), campaign_key="grow"), "lead")
    assert again.status == "running" and again.tickets_created == 5
    Worker(email_app, WorkerOptions(until_idle=True, run_periodic_jobs=False)).run_sync()
    assert svc.finish_campaigns(email_app) == 1
    assert svc.campaign_report(email_app, key).messages["sent"] == 9


def test_a_chunk_written_into_a_campaign_finished_meanwhile_reopens_it(email_app, monkeypatch):
    """Two launches of one campaign: the first completed and the campaign was finished
    while the second still writes — its next chunk makes the campaign launching again in
    the same transaction, so nothing it writes is left in a done campaign."""
    key = svc.launch(email_app, request(source=many(3), campaign_key="two"), "lead").campaign_key
    Worker(email_app, WorkerOptions(until_idle=True, run_periodic_jobs=False)).run_sync()
    monkeypatch.setattr(launching, "CHUNK", 4)
    monkeypatch.setattr(launching, "WRITERS", 1)  # one chunk after the other, to look between
    real = launching._write_chunk
    states = []

    def finish_between(app, plan, campaign_id, chunk, *args):
        with app.db.transaction() as s:  # as if the other launch had just completed it
            s.execute(update(Campaign).where(Campaign.key == key).values(status="running"))
        svc.finish_campaigns(app)
        states.append(svc.campaign_report(app, key).status)
        out = real(app, plan, campaign_id, chunk, *args)
        states.append(svc.campaign_report(app, key).status)
        return out

    monkeypatch.setattr(launching, "_write_chunk", finish_between)
    assert svc.launch(email_app, request(source=many(11), campaign_key="two"), "lead").status == (
        "running"
    )
    # the first chunk finds it done (every message sent); later ones find queued messages
    assert states == ["done", "launching", "running", "launching", "running", "launching"]


def test_the_console_campaign_list_shows_scheduled_and_interrupted(email_app, clock, monkeypatch):
    from hde_core.services.delivery import campaign_choices

    later = request(campaign_key="later", scheduled_at=clock.now() + timedelta(hours=1))
    svc.launch(email_app, later, "lead")
    monkeypatch.setattr(launching, "CHUNK", 2)
    real = launching._write_chunk

    def dies(app, plan, campaign_id, chunk, *args):
        if plan.key == "cut" and chunk[0].values["order_id"] == "O-2":
            raise OSError("killed")
        return real(app, plan, campaign_id, chunk, *args)

    monkeypatch.setattr(launching, "_write_chunk", dies)
    with pytest.raises(OSError):
        svc.launch(email_app, request(source=many(6), campaign_key="cut"), "lead")
    shown = {c.key: c.status for c in campaign_choices(email_app)}
    assert shown == {"later": "scheduled", "cut": "interrupted"}
