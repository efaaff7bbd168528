"""Every console page renders for every role, and each role sees only what it may do
(SPEC §6): viewers read, agents read dashboards, team leads change settings, templates
and resend, admins manage channels, credentials and users."""

import pytest

from tests.console.conftest import ROLES, run_page
from tests.console.seed import seeded  # noqa: F401 - fixture

#: page → the widgets (by key) a role must have to act there; every other role must not.
ACTIONS = {
    "app.py": {"overview_resend": {"admin", "team_lead"}},
    "pages/3_campaigns.py": {"cp_pause": {"admin", "team_lead"}, "cp_export": set(ROLES)},
    "pages/4_channels.py": {
        "ch_save_new_smtp": {"admin"},
        "dp_save_new": {"admin"},
        "cf_save_new": {"admin", "team_lead"},
        "pr_save": {"admin", "team_lead"},
        "nf_save_ticket_received": {"admin", "team_lead"},
    },
    "pages/5_templates.py": {"tp_sync": {"admin", "team_lead"}},
    "pages/6_windows.py": {"wm_export_windows": set(ROLES)},
    "pages/7_audit.py": {"au_query": set(ROLES)},
    "pages/8_users.py": {"us_add": {"admin"}},
}


def keys_of(at) -> set[str]:
    """Every widget key on the page (tabs included)."""
    found = set()

    def walk(node):
        key = getattr(node, "key", None)
        if key:
            found.add(key)
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return found


@pytest.mark.parametrize("path", list(ACTIONS))
def test_every_page_renders_for_every_role(console_app, seeded, path):  # noqa: F811
    for role in ROLES:
        at = run_page(path, role=role, lang="en")
        assert not at.exception, (role, at.exception)
        forbidden = "Your role cannot open this page" in " ".join(e.value for e in at.error)
        assert forbidden == (path == "pages/8_users.py" and role != "admin"), role
        present = keys_of(at)
        for key, allowed in ACTIONS[path].items():
            assert (key in present) == (role in allowed), (role, key)
