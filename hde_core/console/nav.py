"""The console's pages: an explicit list, shown in the sidebar by role and language.

Streamlit's own file-name navigation is hidden (``.streamlit/config.toml``) so that the
menu can speak Russian or English and hide what a role may not use.
"""

from __future__ import annotations

from dataclasses import dataclass

from hde_core.config import PROJECT_ROOT
from hde_core.domain.roles import Permission


@dataclass(frozen=True)
class NavItem:
    path: str  # relative to the project root, as st.page_link wants it
    label_key: str
    permission: Permission
    icon: str


PAGES: list[NavItem] = [
    NavItem("app.py", "nav.overview", Permission.VIEW, ":material/home:"),
    NavItem(
        "pages/1_new_ticket.py", "nav.new_ticket", Permission.CREATE_TICKET, ":material/edit_note:"
    ),
    # agents prepare and check lists too; only a team lead launches (checked on the page)
    NavItem("pages/2_bulk.py", "nav.bulk", Permission.CREATE_TICKET, ":material/campaign:"),
    NavItem("pages/3_campaigns.py", "nav.campaigns", Permission.VIEW, ":material/monitoring:"),
    NavItem("pages/10_tickets.py", "nav.tickets", Permission.VIEW, ":material/forum:"),
    NavItem(
        "pages/4_channels.py",
        "nav.channels",
        Permission.VIEW,
        ":material/settings_input_component:",
    ),
    NavItem("pages/5_templates.py", "nav.templates", Permission.VIEW, ":material/description:"),
    NavItem("pages/6_windows.py", "nav.windows", Permission.VIEW, ":material/schedule:"),
    NavItem("pages/7_audit.py", "nav.audit", Permission.VIEW, ":material/fact_check:"),
    NavItem("pages/8_users.py", "nav.users", Permission.MANAGE_USERS, ":material/group:"),
    NavItem("pages/9_account.py", "nav.account", Permission.VIEW, ":material/key:"),
]


def existing_pages() -> list[NavItem]:
    return [p for p in PAGES if (PROJECT_ROOT / p.path).exists()]
