"""The bulk wizard's test deployment: an email channel on the test SMTP sink and a WhatsApp
Business channel whose two clients wrote long ago (window closed: template first), a price,
and the messy 1C export with the verdict every row must get."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from hde_core.bootstrap import App
from hde_core.services.authz import SYSTEM
from hde_core.services.pricing import set_price
from hde_core.services.provision import provision
from tests.lists.helpers import add_channel, add_identity
from tests.staff import seed_staff

LIST = Path(__file__).resolve().parent.parent / "fixtures" / "bulk" / "clients_1c_cp1251.csv"
CHANNELS = ("email", "whatsapp-business")
#: The column the headers do not give away: mapped to the phone by hand.
PHONE = "Номер для WhatsApp"
SUBJECT = "Заказ готов"
BODY = "Здравствуйте, {{ ФИО }}! Ваш заказ ждёт вас в городе {{ Город }}."

#: Per row of LIST on CHANNELS (email first, WhatsApp Business as the fallback) with BODY:
#: "reason" or "eligible:<action>@<channel>".
EXPECTED = [
    "eligible:send@email",
    "eligible:template_then_hold@whatsapp-business",  # bad email; wrote on WhatsApp 30 h ago
    "eligible:template_then_hold@whatsapp-business",  # no email; wrote 3 days ago
    "missing_field",  # Город is empty
    "duplicate",  # olga@Example.RU two rows up
    "eligible:send@email",
    "missing_email",
    "invalid_email",
    "eligible:send@email",  # the name is a formula: the report neutralises it
    "duplicate",  # anna.smirnova@EXAMPLE.RU with spaces
]

PROVISION = """
[[departments]]
name = "Первая линия"
mailbox = "support@company.com"
smtp_url = "{smtp}"

[[channels]]
name = "email"
kind = "email"
department = "Первая линия"

[[notification_templates]]
kind = "agent_initiated"
enabled = true
subject = "[#{{{{ ticket.id }}}}] {{{{ ticket.subject }}}}"
body = "{{{{ ticket.body }}}}"
"""


def setup_bulk(app: App, tmp: Path, smtp_url: str) -> None:
    path = tmp / "bulk.toml"
    path.write_text(PROVISION.format(smtp=smtp_url), encoding="utf-8")
    provision(app, path, actor=SYSTEM)
    seed_staff(app)
    wa = add_channel(app, "whatsapp-business", "wa_business", template=True, rules_ack=True)
    add_identity(app, wa, "+79161234567", app.clock, last_inbound=timedelta(hours=30))
    add_identity(app, wa, "+79031112233", app.clock, last_inbound=timedelta(days=3))
    set_price(app, "utility", "0.04", "setup", country="RU", currency="USD")
