"""Periodic jobs the dispatcher runs besides sending (explicit registry, not discovery).

Each job is ``(name, interval_seconds, function(app) -> None)``. The worker runs a job
when its interval has passed; a failing job is logged and retried at its next turn,
never stopping the dispatcher. With several workers each runs the jobs; jobs must be
idempotent (they are: recovering leases, checking channels, syncing templates).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hde_core.bootstrap import App
from hde_core.services.campaigns import finish_campaigns
from hde_core.services.channel_checks import CHECK_INTERVAL_SECONDS, periodic_check
from hde_core.services.health import forget_stale_workers
from hde_core.services.messages import expire_leases
from hde_core.services.statuses import purge_pending_statuses
from hde_core.services.templates import sync_due_templates


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    interval_seconds: float
    run: Callable[[App], object]


#: Jobs registered by the areas that own them (dispatch, channels, templates).
PERIODIC_JOBS: list[PeriodicJob] = [
    # SPEC §3: a message whose worker died mid-send becomes ``uncertain`` (never resent).
    PeriodicJob("lease_recovery", 5.0, expire_leases),
    PeriodicJob("forget_stale_workers", 600.0, forget_stale_workers),
    PeriodicJob("finish_campaigns", 30.0, finish_campaigns),
    # R11: WhatsApp Business templates; each channel is synced when its last sync is older
    # than ``templates.sync_interval_minutes`` (default hourly), checked every 5 minutes.
    PeriodicJob("templates_sync", 300.0, sync_due_templates),
    # R14: every enabled channel's connection; a check that succeeds again reconnects it.
    PeriodicJob("channel_checks", CHECK_INTERVAL_SECONDS, periodic_check),
    # Early delivery statuses that never found their message (e.g. Viber "delivered" for inbound).
    PeriodicJob("purge_pending_statuses", 3600.0, purge_pending_statuses),
]
