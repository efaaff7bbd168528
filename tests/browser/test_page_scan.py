"""Issue 16.8 in a real browser: an admin in the Russian console visits every page (and the
tabs and expanders that show data, on a seeded deployment with a campaign, a ticket's trail
and a sandbox mailbox) and sees none of the words a team lead does not speak: codes, rule
numbers, command-line flags, the database URL, raw audit details, Streamlit's English."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from hde_core.dispatch.immediate import initiate_ticket
from hde_core.sandbox.smtp_sink import SmtpSink, mail_dir
from hde_core.services.settings import save_department
from hde_core.services.tickets import TicketRequest
from tests.browser.conftest import sign_in
from tests.console.seed import seed_console

pytestmark = pytest.mark.browser

TIMEOUT = 30_000

#: What must never be visible on any page in Russian (issue 16.8): name → pattern.
FORBIDDEN: dict[str, re.Pattern[str]] = {
    "a channel kind's code": re.compile(r"\bwa_business\b"),
    "a snake_case code (reason, status, event, setting)": re.compile(r"\b[a-z]+_[a-z_]+\b"),
    "a rule number of the spec": re.compile(r"\bR\d{1,2}\b"),
    "an encoding's codec name": re.compile(r"utf-8-sig|\bcp1251\b", re.IGNORECASE),
    "key=value details": re.compile(r"\b[a-z_]+=\S"),
    "an HTTP code beside a status": re.compile(r"· \d{3}\b"),
    "a command-line flag": re.compile(r"(?<![\w-])--[a-z]"),
    "a command line": re.compile(r"\bhde (user|ticket|send|templates|channel|provision)\b"),
    "the database URL": re.compile(r"sqlite:|postgresql|\.db\b"),
    "Streamlit's English": re.compile(
        r"Upload|Browse files|Select all|Drag and drop|per file|Choose an? option"
        r"|No results|not allowed|Error:"
    ),
    "an English price category": re.compile(r"\b(marketing|utility|authentication)\b", re.I),
    "XLS listed as accepted": re.compile(r",\s*XLS\b"),
}

#: Names people gave things (a template's name at the provider, a custom field's key):
#: shown as they are, so not codes.
NAMES = ("hde_first_contact", "black_friday", "order_id")
#: The test users' logins and names (a table cell of their own on the users page).
PEOPLE = re.compile(r"^(team_lead|Team_Lead User)$", re.MULTILINE)


def problems(text: str) -> list[str]:
    text = PEOPLE.sub("", text)
    for name in NAMES:
        text = text.replace(name, "")
    found = []
    for why, pattern in FORBIDDEN.items():
        for match in pattern.finditer(text):
            start = max(0, match.start() - 40)
            found.append(f"{why}: …{text[start : match.end() + 40]!r}…")
    return found


def settled(page) -> None:  # type: ignore[no-untyped-def]
    page.wait_for_timeout(400)
    page.wait_for_function(
        "!document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " && !document.querySelector('[data-stale=\"true\"]')",
        timeout=TIMEOUT,
    )


#: Every text node a user can see: icons are ligatures (their names are not words), the
#: "skip to content" link shows only to keyboard users; table cells (drawn on a canvas) are
#: read from the grid's accessible table, which stays in the DOM.
VISIBLE_TEXT_JS = """() => {
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const el = node.parentElement;
    const text = node.textContent.trim();
    if (!el || !text) continue;
    if (el.closest('[data-testid="stIconMaterial"], [data-testid="stSkipToContent"], script, style'))
      continue;
    if (!el.closest('[data-testid="stDataFrame"]') && !el.checkVisibility({visibilityProperty: true}))
      continue;
    out.push(text);
  }
  return out.join("\\n");
}"""

#: Values behind a link cell (the grid shows its number only).
LINK_VALUES = re.compile(r"audit\?ticket=\d+")


#: Every table on screen has drawn its cells (the grid fills its accessible table late).
TABLES_DRAWN_JS = """() => [...document.querySelectorAll('[data-testid="stDataFrame"]')]
  .filter(d => d.checkVisibility())
  .every(d => d.querySelector('table td, table [role="gridcell"]'))"""


def visible_text(page) -> str:  # type: ignore[no-untyped-def]
    """The page's text once it stopped changing (a script run may still be drawing)."""
    before = None
    for _ in range(20):
        settled(page)
        page.wait_for_function(TABLES_DRAWN_JS, timeout=TIMEOUT)
        text = LINK_VALUES.sub("", page.evaluate(VISIBLE_TEXT_JS))
        if text == before:
            return text
        before = text
        page.wait_for_timeout(500)
    return text


def open_page(page, link: str) -> None:  # type: ignore[no-untyped-def]
    settled(page)
    page.get_by_role("link", name=link).click()
    page.get_by_role("heading", name=link).first.wait_for(timeout=TIMEOUT)
    settled(page)


def pick(page, label: str, option: str) -> None:  # type: ignore[no-untyped-def]
    page.locator("[data-testid='stSelectbox']").filter(has_text=label).first.click()
    page.get_by_role("option", name=option).first.click()
    settled(page)


def test_no_raw_words_on_any_page(page, console, tmp_path):
    app = console.app
    seeded = seed_console(app, tmp_path)
    with SmtpSink(mail_dir(console.data_dir)) as sink:
        save_department(
            app,
            {"name": "First line", "mailbox": "support@company.com", "smtp_url": sink.url},
            "admin",
        )
        ticket = initiate_ticket(
            app,
            TicketRequest(
                channel="email",
                to="client@example.com",
                subject="Ваш заказ",
                body="Заказ готов к выдаче.",
                fields={"order_id": "42"},
            ),
            "admin",
        )
    seen: dict[str, str] = {}
    sign_in(page, console, "admin")

    def look(where: str) -> None:
        seen[where] = visible_text(page)

    page.get_by_text("Почта песочницы").first.click()
    look("overview")

    open_page(page, "Новая заявка")
    page.get_by_label("Найти клиента").fill("Игорь")
    page.keyboard.press("Enter")
    settled(page)
    look("new ticket")

    open_page(page, "Массовая рассылка")
    look("bulk")

    open_page(page, "Рассылки")
    look("campaigns")

    open_page(page, "Каналы и настройки")
    look("channels")
    for channel in ("whatsapp", "wa-business"):
        pick(page, "Канал", channel)
        look(f"channel {channel}")
    for tab in (
        "Отделы и почтовые ящики",
        "Дополнительные поля",
        "Шаблоны уведомлений",
        "Цены",
        "Отписавшиеся",
    ):
        page.get_by_role("tab", name=tab).click()
        settled(page)
        look(f"channels: {tab}")

    open_page(page, "Шаблоны")
    look("templates")

    open_page(page, "24-часовые окна")
    look("windows")

    open_page(page, "Аудит и доставка")
    for number in (ticket.ticket_id, seeded.failed_ticket, seeded.held_ticket):
        page.get_by_label("Номер заявки или имя, телефон, почта клиента").fill(str(number))
        page.keyboard.press("Enter")
        settled(page)
        look(f"audit #{number}")

    open_page(page, "Пользователи")
    look("users")

    open_page(page, "Мой пароль")
    look("account")

    if os.environ.get("HDE_SCAN_DUMP"):  # what each page said, to read when this fails
        Path(os.environ["HDE_SCAN_DUMP"]).write_text(
            json.dumps(seen, ensure_ascii=False, indent=1), encoding="utf-8"
        )
    # the scan read what it came for: tables, the trail in sentences, the whole users page
    assert "Black Friday" in seen["campaigns"]
    assert "Канал «email»; получатель client@example.com" in seen[f"audit #{ticket.ticket_id}"]
    assert "Сбросить пароль" in seen["users"]
    assert "Заказ готов к выдаче." in seen["overview"] or "Ваш заказ" in seen["overview"]
    found = {where: problems(text) for where, text in seen.items()}
    found = {where: p for where, p in found.items() if p}
    assert not found, "\n".join(f"{w}: {p}" for w, ps in found.items() for p in ps)
