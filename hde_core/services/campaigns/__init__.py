"""Bulk runs (SPEC §4 ``hde send``) and their campaigns, split by role:

- :mod:`.plan` — what a launch checks before writing anything (the bulk wizard's check);
- :mod:`.launching` — writing the campaign's tickets and messages in chunks;
- :mod:`.contacts` — the identities a launch finds or creates;
- :mod:`.controls` — pause, resume, cancel, and the periodic finish;
- :mod:`.report` — where a campaign stands.

Faces keep calling ``campaigns.launch(...)``, ``campaigns.cancel(...)`` etc.: the use cases
are re-exported here. Message listing and resending live in :mod:`hde_core.services.messages`.
"""

from hde_core.domain.campaigns import CampaignStatus, ShownStatus
from hde_core.services.campaigns.controls import cancel, finish_campaigns, pause, resume
from hde_core.services.campaigns.drafts import message_key
from hde_core.services.campaigns.launching import LaunchResult, launch
from hde_core.services.campaigns.plan import (
    CONTEXT_NAMES,
    SendRequest,
    default_key,
    placeholders,
    plan_launch,
    render,
    row_context,
)
from hde_core.services.campaigns.report import CampaignReport, campaign_report

__all__ = [
    "CONTEXT_NAMES",
    "CampaignReport",
    "CampaignStatus",
    "LaunchResult",
    "SendRequest",
    "ShownStatus",
    "campaign_report",
    "cancel",
    "default_key",
    "finish_campaigns",
    "launch",
    "message_key",
    "pause",
    "placeholders",
    "plan_launch",
    "render",
    "resume",
    "row_context",
]
