"""The bulk outreach wizard in the console (issue 7 §4), step by step, for each role:
upload → preview → columns → channels → message → check → cost → confirm → progress."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from hde_core.db.models import AuditEvent, Channel, WaTemplate
from hde_core.dispatch.worker import Worker, WorkerOptions
from hde_core.services import bulk, bulk_runs
from tests.console.conftest import run_page
from tests.services.bulk_helpers import BODY, CHANNELS, LIST, PHONE, SUBJECT, setup_bulk

PAGE = "pages/2_bulk.py"


@pytest.fixture(autouse=True)
def _fresh_caches():
    bulk.forget_cached()
    yield
    bulk.forget_cached()


@pytest.fixture
def deployment(console_app, tmp_path, smtp_sink):
    setup_bulk(console_app, tmp_path, smtp_sink.url)
    return console_app


def upload(at, data: bytes | None = None, name: str = LIST.name):
    at.file_uploader[0].upload(name, LIST.read_bytes() if data is None else data, "text/csv")
    return at.run()


def compose(at, channels=CHANNELS, subject=SUBJECT, body=BODY):
    if PHONE in at.selectbox(key="bulk_map_phone").options:
        at.selectbox(key="bulk_map_phone").select(PHONE)
    widget = at.multiselect(key="bulk_channels")
    for channel in channels:
        widget.select(channel)
    at.text_input(key="bulk_subject").input(subject)
    at.text_area(key="bulk_body").input(body)
    return at.run()


def checked(role="team_lead", channels=CHANNELS, lang=None):
    at = compose(upload(run_page(PAGE, role=role, lang=lang)), channels)
    at.button(key="bulk_check").click().run()
    assert not at.exception, at.exception
    return at


def texts(elements) -> list[str]:
    return [e.value for e in elements]


def table(at, column: str):
    """The first table with this column (AppTest does not keep a table's key)."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def wait_launch(key: str) -> None:
    deadline = time.monotonic() + 60
    while (job := bulk_runs.launch_job(key)) is None or job.running:
        assert time.monotonic() < deadline, "the launch did not finish"
        time.sleep(0.05)


def test_viewer_cannot_open_the_wizard(deployment):
    at = run_page(PAGE, role="viewer")
    assert not at.exception
    assert "Ваша роль не даёт доступа" in at.error[0].value
    assert not at.file_uploader


def test_a_1c_export_is_read_previewed_and_its_columns_suggested(deployment):
    at = upload(run_page(PAGE, role="team_lead"))
    assert not at.exception
    assert (
        "**clients_1c_cp1251.csv**: строк — 10, кодировка **Windows-1251 (кириллица)**, разделитель **;**."
        in texts(at.markdown)
    )
    preview = table(at, "Комментарий")
    assert list(preview.columns) == ["ФИО", PHONE, "Эл. почта", "Город", "Комментарий"]
    assert len(preview) == 10 and preview["Комментарий"][1] == "звонить; после 18:00"
    mapping = {role: at.selectbox(key=f"bulk_map_{role}").value for role in bulk.ROLES}
    assert mapping == {
        "email": "Эл. почта",
        "phone": "",  # no header says "phone": the team lead maps it
        "telegram": "",
        "viber": "",
        "name": "ФИО",
    }
    assert any("распознаны по заголовкам" in c for c in texts(at.caption))
    assert any(f"{PHONE}, Город, Комментарий" in c for c in texts(at.caption))
    assert any("Чтобы проверить список: выберите канал" in i for i in texts(at.info))


@pytest.mark.parametrize(
    ("name", "data", "says"),
    [
        ("old.xls", b"\xd0\xcf\x11\xe0" + b"\0" * 600, "файл старого формата Excel (.xls)"),
        ("empty.csv", b"\r\n", "пуст"),
        (  # issue 16.9: a note is not a list
            "заметка.txt",
            "Привет! Напоминаю про отчёт.\nСпасибо, Маша\n".encode(),
            "заметка.txt не похож на список контактов: его первая строка — текст",
        ),
    ],
)
def test_a_file_that_is_not_a_list_is_explained(deployment, name, data, says):
    at = upload(run_page(PAGE, role="team_lead"), data, name)
    assert not at.exception
    assert says in at.error[0].value
    assert not at.multiselect  # nothing further until a readable list is uploaded


def test_placeholder_from_a_column_and_the_first_clients_message(deployment):
    at = compose(upload(run_page(PAGE, role="team_lead")), body="Здравствуйте, ")
    at.selectbox(key="bulk_column").select("ФИО")
    at.button(key="bulk_insert").click().run()
    assert at.text_area(key="bulk_body").value == "Здравствуйте, {{ ФИО }}"
    assert "Здравствуйте, Анна Смирнова" in texts(at.text)
    at.text_area(key="bulk_body").input("Ваш {{ Заказ }}").run()
    assert "Подстановки {{ Заказ }} нет среди колонок списка" in at.error[0].value


def test_team_lead_checks_the_list_and_sees_counts_per_reason(deployment):
    at = checked()
    assert metrics(at) == {
        "Строк в списке": "10",
        "Можно отправить": "5",
        "Нельзя отправить": "5",
        "Платных шаблонов": "2",
        "Шаблонных сообщений": "2",
        "Оценка стоимости": "0.08 USD",
    }
    assert (
        "- **2** — Этот получатель уже есть выше в списке. `duplicate`\n"
        "- **1** — Неверный адрес почты. `invalid_email`\n"
        "- **1** — Нет адреса почты. `missing_email`\n"
        "- **1** — Не заполнено обязательное поле: Город. `missing_field`"
    ) in texts(at.markdown)
    assert (
        "- **3** — Сообщение уйдёт сразу\n"
        "- **2** — Сначала шаблон по умолчанию; сообщение ждёт ответа клиента\n"
        "- **3** — через канал email\n"
        "- **2** — через канал whatsapp-business"
    ) in texts(at.markdown)
    cost = table(at, "Категория")
    assert cost.iloc[0].to_dict() == {
        "Категория": "сервисное",
        "Страна": "RU",
        "Сообщений": 2,
        "Цена": "0.04 USD",
        "Стоимость": "0.08 USD",
    }
    rows = table(at, "Строка")
    assert list(rows["Строка"]) == [str(i) for i in range(1, 11)]
    assert [b.label for b in at.get("download_button")] == ["Скачать CSV", "Скачать XLSX"]
    # the mapping is remembered: the next export of this shape maps itself
    again = upload(run_page(PAGE, role="team_lead"), name="clients-december.csv")
    assert any("как в прошлый раз" in c for c in texts(again.caption))
    assert again.selectbox(key="bulk_map_phone").value == PHONE


def test_report_table_filters_and_pages(deployment):
    lines = ["Email;Имя"] + [f"client{i}@example.ru;Клиент {i}" for i in range(1, 121)]
    lines += ["client7@example.ru;Дубль", "not-an-email;Ошибка"]
    at = upload(run_page(PAGE, role="team_lead"), "\n".join(lines).encode(), "big.csv")
    at = compose(at, channels=["email"], body="Здравствуйте")
    at.button(key="bulk_check").click().run()
    assert at.number_input(key="bulk_page").max == 3
    at.number_input(key="bulk_page").set_value(3).run()
    assert list(table(at, "Строка")["Строка"]) == [str(i) for i in range(101, 123)]
    assert "Строки 101–122 из 122 (страница 3 из 3)." in texts(at.caption)
    at.selectbox(key="bulk_show").select("problems").run()
    rows = table(at, "Строка")
    assert list(rows["Строка"]) == ["121", "122"]
    assert list(rows["Причина"]) == [
        "Повтор строки 7: этот получатель уже есть выше в списке.",
        "Неверный адрес почты.",
    ]
    assert at.number_input(key="bulk_page").value == 1


def test_agent_checks_the_list_but_only_a_team_lead_launches(deployment):
    at = checked(role="agent")
    assert metrics(at)["Можно отправить"] == "5"
    assert "ваша роль — агент" in at.warning[-1].value
    assert not [b for b in at.button if b.key == "bulk_launch"]


def test_changing_the_message_after_the_check_asks_for_a_new_check(deployment):
    at = checked()
    at.text_input(key="bulk_subject").input("Другая тема").run()
    assert any("Проверьте список ещё раз" in i for i in texts(at.info))
    assert not [d for d in at.dataframe if "Строка" in d.value.columns]


def test_whatsapp_template_parameters_come_from_columns(deployment):
    with deployment.db.transaction() as s:
        channel = s.scalar(select(Channel).where(Channel.name == "whatsapp-business"))
        s.add(
            WaTemplate(
                channel_id=channel.id,
                name="order_ready",
                language="ru",
                category="MARKETING",
                status="APPROVED",
                param_names=["1"],
                body_text="{{1}}, ваш заказ готов.",
            )
        )
    at = compose(upload(run_page(PAGE, role="team_lead")))
    template = at.selectbox(key="bulk_template")
    assert template.options == [
        "Шаблон канала по умолчанию: hello:ru (сервисное)",
        "hello:ru",
        "order_ready:ru",
    ]
    template.select("order_ready:ru").run()
    assert any("выберите колонку для каждого параметра шаблона" in i for i in texts(at.info))
    at.selectbox(key="bulk_param_1").select("ФИО").run()
    # row 2 goes through WhatsApp Business (no email): the template, then the held text
    at.number_input(key="bulk_preview_row").set_value(2).run()
    shown = texts(at.text)
    assert shown[0].endswith(", ваш заказ готов.") and shown[0] != "{{1}}, ваш заказ готов."
    assert shown[1].startswith("Здравствуйте, ")
    at.button(key="bulk_check").click().run()
    assert not at.exception
    # no price for marketing templates: counted as unpriced, never guessed
    assert metrics(at)["Оценка стоимости"] == "—"
    assert "Для 2 шаблонных сообщений нет цены" in at.warning[0].value


def test_team_lead_launches_and_watches_progress_to_the_end(deployment, smtp_sink):
    at = checked(channels=["email"])
    assert at.button(key="bulk_launch").disabled
    at.checkbox(key="bulk_sure").check().run()
    assert "отправить 3 клиентам, из них платных шаблонов — 0" in at.checkbox(key="bulk_sure").label
    at.button(key="bulk_launch").click().run()
    assert not at.exception, at.exception
    key = at.session_state["bulk_launched"]
    wait_launch(key)
    at.run()
    assert "Рассылка запущена: 3 новых, 0 уже в очереди" in at.success[-1].value
    assert metrics(at)["в очереди"] == "3"
    assert [b.key for b in at.button if b.key in ("bulk_pause", "bulk_cancel")] == [
        "bulk_pause",
        "bulk_cancel",
    ]
    Worker(deployment, WorkerOptions(until_idle=True, run_periodic_jobs=False)).run_sync()
    at.run()
    assert not at.exception
    assert metrics(at)["отправлено"] == "3" and metrics(at)["в очереди"] == "0"
    assert "Рассылка завершена: отправлено 3, ошибок 0, ждут ответа клиента 0." in texts(at.success)
    assert [p.value for p in at.get("progress")] == [100]
    assert not [b for b in at.button if b.key == "bulk_pause"]  # nothing left to pause
    assert [b.label for b in at.get("download_button")][-2:] == ["Скачать CSV", "Скачать XLSX"]
    # a new list starts the wizard over
    at.button(key="bulk_new").click().run()
    assert "bulk_launched" not in at.session_state and not at.multiselect


def test_pause_resume_and_cancel_from_the_progress_panel(deployment):
    at = checked(channels=["email"])
    at.checkbox(key="bulk_sure").check().run()
    at.button(key="bulk_launch").click().run()
    wait_launch(at.session_state["bulk_launched"])
    at.run()
    at.button(key="bulk_pause").click().run()
    assert any(": на паузе." in m for m in texts(at.markdown))
    at.button(key="bulk_resume").click().run()
    assert any(": идёт отправка." in m for m in texts(at.markdown))
    assert at.button(key="bulk_cancel").disabled
    at.checkbox(key="bulk_cancel_sure").check().run()
    at.button(key="bulk_cancel").click().run()
    assert not at.exception
    assert any(": отменена." in m for m in texts(at.markdown))
    assert metrics(at)["отменено"] == "3"
    assert "не отправлено и уже не будет отправлено сообщений — 3" in at.warning[-1].value


def test_wizard_in_english(deployment):
    at = checked(lang="en")
    assert at.file_uploader[0].label == "List file (CSV or XLSX)"
    assert metrics(at)["Can be sent"] == "5"
    assert any(
        m.startswith("- **2** — The same recipient appears earlier in the list.")
        for m in texts(at.markdown)
    )


def test_the_wizard_comes_back_in_a_new_session_until_discarded(deployment):
    """Issue 16.1: F5 or another browser is a new session; the user's draft brings back the
    list, the columns, the channels, the message and the check."""
    first = compose(upload(run_page(PAGE, role="team_lead")), ("email",))
    first.selectbox(key="bulk_priority").select("high").run()
    first.button(key="bulk_check").click().run()
    assert not first.exception, first.exception

    again = run_page(PAGE, role="team_lead")  # a new session of the same user
    assert not again.exception, again.exception
    assert any(
        "Список из вашего черновика: **clients_1c_cp1251.csv**" in i for i in texts(again.info)
    )
    assert again.selectbox(key="bulk_map_phone").value == PHONE
    assert again.multiselect(key="bulk_channels").value == ["email"]
    assert again.text_input(key="bulk_subject").value == SUBJECT
    assert again.text_area(key="bulk_body").value == BODY
    assert again.selectbox(key="bulk_priority").value == "high"
    assert metrics(again)["Можно отправить"] == "3"  # the check is shown again

    assert not run_page(PAGE, role="agent").multiselect  # per user: the agent's is empty

    again.button(key="bulk_start_over").click().run()
    assert any("Удалить черновик рассылки" in w for w in texts(again.warning))
    again.button(key="bulk_discard_yes").click().run()
    assert not again.exception, again.exception
    assert not again.multiselect
    fresh = run_page(PAGE, role="team_lead")
    assert not fresh.multiselect and not fresh.text_input


def test_a_launch_consumes_the_draft_and_a_new_session_shows_its_progress(deployment):
    at = checked(channels=("email",))
    at.checkbox(key="bulk_sure").check().run()
    at.button(key="bulk_launch").click().run()
    key = at.session_state["bulk_launched"]
    wait_launch(key)

    again = run_page(PAGE, role="team_lead")
    assert not again.exception, again.exception
    assert not again.multiselect  # the launched values are gone: a new list starts here
    assert again.session_state["bulk_launched"] == key  # and the run is shown


def test_a_missing_contact_column_is_said_at_the_mapping_step(deployment):
    """Issue 16.9: "no email column" used to appear only after the channel and the message
    were filled in; now the mapping step says it as soon as it is true."""
    at = upload(run_page(PAGE, role="team_lead"), "Город;Комментарий\nМосква;VIP\n".encode())
    assert not at.exception, at.exception
    assert any(
        "Ни одна колонка не выбрана как «почта» или «телефон»" in w for w in texts(at.warning)
    )

    at = upload(run_page(PAGE, role="team_lead"), "Телефон;Имя\n+79161234567;Анна\n".encode())
    assert not texts(at.warning)  # a phone column: someone can be reached
    at.multiselect(key="bulk_channels").select("email").run()
    assert not at.exception, at.exception
    assert at.text_input(key="bulk_subject").value == ""  # no message written yet
    assert any(
        "Канал email пишет клиентам по колонке «почта», а она не выбрана" in w
        for w in texts(at.warning)
    )
    at.selectbox(key="bulk_map_email").select("Имя").run()  # any column will do for the check
    assert not any("Канал email" in w for w in texts(at.warning))


def test_a_relaunch_says_how_many_are_new_and_how_many_already_queued(deployment):
    """Issue 16.9: launching the same list and message again used to say only "Рассылка
    запущена"; it says "0 новых, 3 уже в очереди", and the audit has the relaunch."""
    first = checked(channels=("email",))
    first.checkbox(key="bulk_sure").check().run()
    first.button(key="bulk_launch").click().run()
    key = first.session_state["bulk_launched"]
    wait_launch(key)

    again = checked(channels=("email",))  # another session: the same list uploaded again
    assert any("уже запускался" in i for i in texts(again.info))
    again.checkbox(key="bulk_sure").check().run()
    again.button(key="bulk_launch").click().run()
    assert again.session_state["bulk_launched"] == key  # the same campaign
    wait_launch(key)
    again.run()
    assert not again.exception, again.exception
    assert any("Рассылка запущена: 0 новых, 3 уже в очереди" in s for s in texts(again.success))
    with deployment.db.reader() as s:
        relaunched = s.scalars(
            select(AuditEvent.actor).where(AuditEvent.event == "campaign_relaunched")
        ).all()
    assert relaunched == ["team_lead"]
