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
    "pages/10_tickets.py": {"tk_mine": set(ROLES)},
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


def test_every_translated_choice_exists_in_both_languages():
    """Keys built at run time (``tr(f"…{value}")``) cover every value they can meet."""
    from hde_core.domain.channels import ChannelKind
    from hde_core.domain.outcomes import ErrorClass
    from hde_core.domain.statuses import MessageStatus
    from hde_core.domain.tickets import NotificationKind
    from hde_core.i18n import catalogue
    from hde_core.services.settings.problems import _KNOWN_FIELD_KEYS

    keys = (
        [f"campaigns_page.error_class.{c.value}" for c in ErrorClass]
        + [f"campaigns_page.chart.error.{c.value}" for c in ErrorClass]
        + ["campaigns_page.error_class.unknown", "campaigns_page.chart.error.unknown"]
        + [f"campaigns_page.chart.stage.{s}" for s in ("queued", "sent", "delivered", "read")]
        + [f"status.{s.value}" for s in MessageStatus]
        + [f"channels_page.kind.{k.value}" for k in ChannelKind]
        + [f"channels_page.notification.{k.value}" for k in NotificationKind]
        + [f"channels_page.field.{name}" for name in _KNOWN_FIELD_KEYS]
        + [f"channels_page.r12.mode.{m}" for m in ("hold", "send")]
        + [f"campaigns_page.done.{a}" for a in ("pause", "resume", "cancel")]
        + [
            f"cli.campaign.status.{s}"
            for s in ("running", "scheduled", "paused", "cancelled", "done")
        ]
    )
    for lang in ("ru", "en"):
        assert [k for k in keys if k not in catalogue(lang)] == [], lang
