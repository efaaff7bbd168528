"""The bulk wizard's core (issue 7 §4): uploads kept on the server, the list read and mapped,
verdicts exactly as a launch decides them, counts, pages and files instead of rows, the
cost of template messages (R13), a launch in the background and its progress."""

from __future__ import annotations

import csv
import io
import os
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from hde_core.db.models import Message, Ticket
from hde_core.dispatch.worker import Worker, WorkerOptions
from hde_core.errors import InputError, PermissionDenied
from hde_core.services import bulk, bulk_runs, campaigns
from tests.dispatch.conftest import LiveClock, clock  # noqa: F401 - token buckets need real time
from tests.services.bulk_helpers import BODY, CHANNELS, EXPECTED, LIST, PHONE, SUBJECT, setup_bulk


@pytest.fixture(autouse=True)
def _fresh_caches():
    bulk.forget_cached()
    yield
    bulk.forget_cached()


@pytest.fixture
def lead_app(app, tmp_path, smtp_sink):
    setup_bulk(app, tmp_path, smtp_sink.url)  # with the staff: "lead" and "agent"
    return app


def draft(app, channels=CHANNELS, body=BODY, **kw) -> bulk.Draft:
    upload = bulk.store_upload(app, LIST.name, LIST.read_bytes())
    facts = bulk.inspect_upload(app, upload)
    mapping = {**facts.mapping, "phone": PHONE}
    return bulk.make_draft(upload, mapping, channels, SUBJECT, body, **kw)


def verdicts(found: bulk.Check) -> list[str]:
    return [
        f"eligible:{r.action.value}@{r.channel}" if r.eligible and r.action else r.reason.value
        for r in found.result.iter_rows()
    ]


def wait_launch(key: str, timeout: float = 60) -> bulk_runs.LaunchJob:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = bulk_runs.launch_job(key)
        if job is not None and not job.running:
            return job
        time.sleep(0.05)
    raise AssertionError(f"launch {key} did not finish")


def test_upload_is_kept_on_the_server_and_refused_over_the_limit(lead_app):
    upload = bulk.store_upload(lead_app, "../../etc/Клиенты ноябрь.csv", b"Email\na@b.ru\n")
    path = Path(upload.path)
    assert path.read_bytes() == b"Email\na@b.ru\n"
    assert path.parent.parent == lead_app.settings.data_dir / "uploads"
    assert path.name == "Клиенты ноябрь.csv"  # no folders from the browser's name
    lead_app.settings.upload_limit_mb = 1
    with pytest.raises(InputError) as refused:
        bulk.store_upload(lead_app, "big.csv", b"x" * (1024 * 1024 + 1))
    assert "больше допустимых 1 МБ" in refused.value.message("ru")
    assert len(list((lead_app.settings.data_dir / "uploads").iterdir())) == 1


def test_old_uploads_are_cleared_out(lead_app):
    old = bulk.store_upload(lead_app, "old.csv", b"Email\na@b.ru\n")
    week_ago = time.time() - bulk.KEEP_UPLOADS_SECONDS - 60
    os.utime(Path(old.path).parent, (week_ago, week_ago))
    new = bulk.store_upload(lead_app, "new.csv", b"Email\na@b.ru\n")
    assert not Path(old.path).exists() and Path(new.path).exists()


def test_a_1c_export_is_read_and_its_columns_recognised(lead_app):
    upload = bulk.store_upload(lead_app, LIST.name, LIST.read_bytes())
    facts = bulk.inspect_upload(lead_app, upload)
    assert (facts.format, facts.encoding, facts.delimiter, facts.rows) == ("csv", "cp1251", ";", 10)
    assert facts.mapping == {"email": "Эл. почта", "name": "ФИО"}  # no header says "phone"
    assert facts.mapping_source == "suggested"
    first = bulk.preview_rows(lead_app, upload, facts.mapping, limit=5)
    assert first[1]["Комментарий"] == "звонить; после 18:00"
    assert first[4]["Комментарий"] == "дубль,\nвторая строка комментария"
    # the team lead maps the phone by hand and checks: the next list of this shape maps so
    bulk.remember_mapping(lead_app, upload, {**facts.mapping, "phone": PHONE}, "lead")
    again = bulk.inspect_upload(lead_app, bulk.store_upload(lead_app, "dec.csv", LIST.read_bytes()))
    assert again.mapping_source == "saved" and again.mapping["phone"] == PHONE


def test_check_gives_every_row_the_verdict_a_launch_gives(lead_app):
    found = bulk.check(lead_app, draft(lead_app))
    assert verdicts(found) == EXPECTED
    dry = campaigns.launch(lead_app, found.draft.request(dry_run=True), "lead")
    assert dry.summary == found.summary and dry.template_messages == found.template_messages == 2
    assert found.per_channel == {"email": 3, "whatsapp-business": 2}
    assert [(r.code, r.field, r.count) for r in bulk.reason_lines(found, "ru")] == [
        ("duplicate", None, 2),
        ("invalid_email", None, 1),
        ("missing_email", None, 1),
        ("missing_field", "Город", 1),
    ]
    assert bulk.reason_lines(found, "ru")[-1].text == "Не заполнено обязательное поле: Город."
    assert [(a.action, a.count) for a in bulk.action_lines(found, "en")] == [
        ("send", 3),
        ("template_then_hold", 2),
    ]
    # R13: two utility templates to Russian numbers at 0.04 USD
    assert found.estimate.messages == 2 and found.estimate.unpriced == 0
    assert {c: bulk.money(v) for c, v in found.estimate.totals.items()} == {"USD": "0.08"}
    assert bulk.check(lead_app, found.draft) is found  # kept while the draft is the same


def test_a_template_message_without_a_price_is_counted_not_guessed(lead_app):
    from hde_core.services.pricing import delete_price

    delete_price(lead_app, "utility", "setup", country="RU")
    found = bulk.check(lead_app, draft(lead_app))
    assert found.estimate.messages == 2 and found.estimate.unpriced == 2
    assert found.estimate.totals == {}


@pytest.mark.parametrize(
    ("show", "page", "size", "rows", "pages"),
    [
        ("all", 1, 4, ["1", "2", "3", "4"], 3),
        ("all", 3, 4, ["9", "10"], 3),
        ("all", 99, 4, ["9", "10"], 3),  # past the end: the last page
        ("eligible", 1, 50, ["1", "2", "3", "6", "9"], 1),
        ("problems", 1, 50, ["4", "5", "7", "8", "10"], 1),
        ("duplicate", 1, 50, ["5", "10"], 1),
    ],
)
def test_report_table_one_page_at_a_time(lead_app, show, page, size, rows, pages):
    found = bulk.check(lead_app, draft(lead_app))
    shown = bulk.rows_page(found, show, page, size, lang="ru")
    assert [r[0] for r in shown.rows] == rows
    assert shown.pages == pages
    assert shown.columns[:6] == ["Строка", "Причина", "Действие", "Получатель", "Канал", "ФИО"]
    assert len(shown.columns) == 5 + 5  # and every column of the list


def test_report_rows_say_what_happens_in_plain_words(lead_app):
    found = bulk.check(lead_app, draft(lead_app))
    records = bulk.rows_page(found, "all", 1, 50, lang="ru").records()
    assert records[1]["Получатель"] == "+79161234567"
    assert records[1]["Канал"] == "whatsapp-business"
    assert records[1]["Действие"].startswith("Сначала шаблон по умолчанию")
    # a duplicate names the row it repeats (issue 16.9): olga in row 4, anna in row 1
    assert records[4]["Причина"] == "Повтор строки 4: этот получатель уже есть выше в списке."
    assert records[9]["Причина"] == "Повтор строки 1: этот получатель уже есть выше в списке."
    en = bulk.rows_page(found, "all", 1, 50, lang="en").records()
    assert en[4]["Reason"] == "Repeats row 4: the same recipient appears earlier in the list."
    assert records[3]["Причина"] == "Не заполнено обязательное поле: Город."


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_validation_report_file_is_whole_and_safe_for_excel(lead_app, fmt):
    d = draft(lead_app)
    path = bulk.validation_report(lead_app, d, fmt, "ru")
    if fmt == "csv":
        rows = list(csv.reader(io.StringIO(path.read_text("utf-8-sig")), delimiter=";"))
    else:
        from openpyxl import load_workbook

        sheet = load_workbook(path).active
        rows = [[c or "" for c in row] for row in sheet.iter_rows(values_only=True)]
    header, body = rows[0], rows[1:]
    assert len(body) == 10
    code = header.index("Код")
    assert [r[code] for r in body] == [e.split(":")[0] for e in EXPECTED]
    name = body[8][header.index("ФИО")]
    if fmt == "csv":
        assert name == '\'=HYPERLINK("http://evil.example")'
    else:
        assert name == '=HYPERLINK("http://evil.example")'  # text, with Excel's quote prefix
        assert sheet.cell(row=10, column=2).data_type == "s"


def test_only_a_team_lead_launches(lead_app):
    with pytest.raises(PermissionDenied) as refused:
        bulk_runs.start_launch(lead_app, draft(lead_app), "agent")
    assert "руководитель группы" in refused.value.message("ru")
    with lead_app.db.reader() as s:
        assert s.scalar(select(func.count()).select_from(Ticket)) == 0


def test_launch_runs_in_the_background_and_progress_reaches_the_end(lead_app):
    d = draft(lead_app, channels=("email",))
    key = bulk_runs.start_launch(lead_app, d, "lead", name="Ноябрь")
    assert key == bulk.check(lead_app, d).key
    job = wait_launch(key)
    assert job.error is None and job.result.tickets_created == 3
    before = bulk_runs.progress(lead_app, key)
    assert (before.name, before.status, before.creating, before.finished) == (
        "Ноябрь",
        "running",
        False,
        False,
    )
    assert before.counts["queued"] == 3 and before.fraction == 0
    assert before.stage == "sending"
    Worker(lead_app, WorkerOptions(until_idle=True, run_periodic_jobs=False)).run_sync()
    after = bulk_runs.progress(lead_app, key)
    assert after.finished and after.fraction == 1.0 and after.stage == "complete"
    assert after.counts["sent"] == 3 and after.pending == 0

    path = bulk_runs.results_file(lead_app, key, "csv", "ru")
    rows = list(csv.DictReader(io.StringIO(path.read_text("utf-8-sig")), delimiter=";"))
    assert [(r["Строка"], r["Получатель"], r["Статус"]) for r in rows] == [
        ("1", "anna.smirnova@example.ru", "отправлено"),
        ("6", "petr.sidorov@example.ru", "отправлено"),
        ("9", "ivan@example.ru", "отправлено"),
    ]
    assert rows[2]["Имя"] == '\'=HYPERLINK("http://evil.example")'


def test_launching_the_same_draft_again_writes_to_nobody_twice(lead_app):
    d = draft(lead_app, channels=("email",))
    key = bulk_runs.start_launch(lead_app, d, "lead")
    wait_launch(key)
    found = bulk.check(lead_app, d)
    assert bulk_runs.previous_run(lead_app, found).tickets == 3
    assert bulk_runs.start_launch(lead_app, d, "lead") == key
    job = wait_launch(key)
    assert (job.result.tickets_created, job.result.already_queued) == (0, 3)
    with lead_app.db.reader() as s:
        assert s.scalar(select(func.count()).select_from(Message)) == 3


def test_a_cancelled_campaign_is_launched_again_as_a_new_one(lead_app):
    d = draft(lead_app, channels=("email",))
    key = bulk_runs.start_launch(lead_app, d, "lead")
    wait_launch(key)
    cancelled = campaigns.cancel(lead_app, key, "lead")
    assert cancelled.cancelled_now == 3
    assert bulk_runs.progress(lead_app, key).finished
    assert bulk_runs.progress(lead_app, key).stage == "cancelled"
    again = bulk_runs.start_launch(lead_app, d, "lead")
    assert again == f"{key}-2"
    assert wait_launch(again).result.tickets_created == 3


def test_a_launch_that_fails_in_the_background_is_reported(lead_app):
    d = draft(lead_app, channels=("email",))
    bulk.check(lead_app, d)
    Path(d.upload.path).unlink()  # the file went away between the check and the launch
    key = bulk_runs.start_launch(lead_app, d, "lead")
    job = wait_launch(key)
    assert job.phase == "failed" and isinstance(job.error, InputError)
    state = bulk_runs.progress(lead_app, key)
    assert state.finished and state.campaign_id is None and state.stage == "failed"
    assert "clients_1c_cp1251.csv" in state.error.message("en")
