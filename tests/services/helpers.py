"""Test helpers: provisioning files pointing at the test SMTP sink."""

from pathlib import Path

from hde_core.bootstrap import App
from hde_core.services.authz import SYSTEM
from hde_core.services.provision import provision
from tests.staff import seed_staff

BASE = """
[[departments]]
name = "First line"
mailbox = "support@company.com"
smtp_url = "{smtp}"

[[departments]]
name = "IT"
mailbox = "it@company.com"
smtp_url = "{smtp}"

[[channels]]
name = "email"
kind = "email"
department = "First line"

[[custom_fields]]
key = "order_id"
label = "Order number"
required = true

[[custom_fields]]
key = "city"
label = "City"

[[notification_templates]]
kind = "agent_initiated"
enabled = {agent_enabled}
subject = "[#{{{{ ticket.id }}}}] {{{{ ticket.subject }}}}"
body = "Hello {{{{ contact.name }}}}! {{{{ ticket.body }}}} (order {{{{ ticket.fields.order_id }}}}, from {{{{ ticket.department }}}})"

[[notification_templates]]
kind = "ticket_received"
enabled = {received_enabled}
subject = "Request {{{{ ticket.id }}}} received"
body = "We got your request: {{{{ ticket.body }}}}"
"""


def provision_text(
    tmp: Path, smtp_url: str, agent_enabled: bool = True, received_enabled: bool = True
) -> Path:
    path = tmp / "provision.toml"
    path.write_text(
        BASE.format(
            smtp=smtp_url,
            agent_enabled=str(agent_enabled).lower(),
            received_enabled=str(received_enabled).lower(),
        ),
        encoding="utf-8",
    )
    return path


def provision_email(app: App, tmp: Path, smtp_url: str, **kw: bool) -> None:
    provision(app, provision_text(tmp, smtp_url, **kw), actor=SYSTEM)
    seed_staff(app)
