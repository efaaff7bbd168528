"""The bulk wizard's launch and what follows it (issue 7 §4, steps 8–10): who may launch,
the campaign key, the launch in a background thread, live progress, the results file.

Creating a 100,000-row campaign takes a minute or more (tickets, messages and audit rows in
chunks, :func:`campaigns.launch`), so it runs in a thread of the console's process while the
page polls :func:`progress`; the dispatcher starts sending the first chunks meanwhile. The
campaign key comes from the file, the channels and the message (:func:`bulk.check`):
launching the same draft again is the same campaign and adds only what is missing — nobody
is written to twice. A job lives in this process only; after a restart the page still finds
the campaign in the database (and says when its creation was cut short).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from hde_core.bootstrap import App
from hde_core.db.models import AuditEvent, Campaign, Channel, Contact, Message, Ticket
from hde_core.domain.campaigns import CampaignStatus, ShownStatus
from hde_core.domain.roles import Permission
from hde_core.domain.statuses import HANDED_OVER, MessageStatus
from hde_core.errors import HdeError, NotFound
from hde_core.i18n import t
from hde_core.lists.report import write_table
from hde_core.services import audit, campaigns, live
from hde_core.services.authz import SystemActor, authorize, may
from hde_core.services.bulk import Check, Draft, check, drafts, safe_file_name

log = logging.getLogger("hde.bulk")

EXPORTS_DIR = "exports"
#: Finished launches are remembered this long (the page shows how they ended).
KEEP_JOBS_SECONDS = 3600.0
#: Message statuses that still wait for the dispatcher (the rest are settled for now).
PENDING = (MessageStatus.QUEUED.value, MessageStatus.RETRYING.value, MessageStatus.SENDING.value)


# -- confirm and launch -----------------------------------------------------------------


def may_launch(app: App, actor: str) -> bool:
    """Only a team lead (or an admin) starts a bulk run (SPEC §6)."""
    return may(app, actor, Permission.BULK_SEND)


def launch_key(app: App, base: str) -> str:
    """The campaign key for a launch: ``base`` — unless that campaign was cancelled, which
    cannot be resumed: then the next free ``base-2``, ``base-3`` … (a new campaign)."""
    with app.db.reader() as session:
        statuses = dict(
            session.execute(
                select(Campaign.key, Campaign.status).where(Campaign.key.like(f"{base}%"))
            ).all()
        )
    key, n = base, 1
    while statuses.get(key) == CampaignStatus.CANCELLED:
        n += 1
        key = f"{base}-{n}"
    return key


def previous_run(app: App, found: Check) -> campaigns.CampaignReport | None:
    """The campaign this draft was already launched as (a launch only adds missing rows)."""
    try:
        return campaigns.campaign_report(app, launch_key(app, found.key))
    except NotFound:
        return None


@dataclass
class LaunchJob:
    """A launch running in this process (the page polls it)."""

    key: str
    actor: str
    phase: str = "validate"  # validate → create → done | failed
    done: int = 0
    total: int = 0
    result: campaigns.LaunchResult | None = None
    error: HdeError | None = None
    finished_at: float | None = None

    @property
    def running(self) -> bool:
        return self.phase in ("validate", "create")


_JOBS: dict[str, LaunchJob] = {}
_JOBS_LOCK = threading.Lock()


def start_launch(app: App, draft: Draft, actor: str, name: str | None = None) -> str:
    """Start creating the campaign's tickets and messages in the background; returns the
    campaign key. Raises :class:`~hde_core.services.authz.NotAllowed` unless ``actor`` is a team lead or an
    admin. A launch of the same draft that is still running is not started twice."""
    authorize(app, actor, Permission.BULK_SEND)
    found = check(app, draft)
    key = launch_key(app, found.key)
    with _JOBS_LOCK:
        now = time.monotonic()
        for old in [
            k for k, j in _JOBS.items() if j.finished_at and now - j.finished_at > KEEP_JOBS_SECONDS
        ]:
            del _JOBS[old]
        job = _JOBS.get(key)
        if job is not None and job.running:
            return key
        job = LaunchJob(key=key, actor=actor, total=found.result.rows)
        _JOBS[key] = job
    request = draft.request(campaign_key=key, name=(name or "").strip() or None)
    thread = threading.Thread(
        target=_run_launch, args=(app, request, actor, job), name=f"hde-launch-{key}", daemon=True
    )
    thread.start()
    if not isinstance(actor, SystemActor):
        drafts.mark_launched(app, actor, key)  # launching consumes the user's wizard draft
    return key


def _run_launch(app: App, request: campaigns.SendRequest, actor: str, job: LaunchJob) -> None:
    def tick(phase: str, done: int, total: int) -> None:
        job.phase, job.done, job.total = phase, done, total

    try:
        job.result = campaigns.launch(app, request, actor, progress=tick)
        job.phase = "done"
    except HdeError as exc:
        job.error, job.phase = exc, "failed"
    except Exception:  # noqa: BLE001 - the page must learn that it ended
        log.exception("bulk launch %s failed", job.key)
        job.error, job.phase = HdeError("error.generic"), "failed"
    finally:
        job.finished_at = time.monotonic()


def launch_job(key: str) -> LaunchJob | None:
    with _JOBS_LOCK:
        return _JOBS.get(key)


# -- live progress ------------------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    key: str
    campaign_id: int | None  # None until the campaign exists
    name: str
    status: str  # the campaign's ShownStatus; "starting" before it exists
    counts: dict[str, int]  # messages per status (every status present)
    tickets: int
    eligible: int
    #: The launch is still writing tickets and messages (``created`` of ``to_create`` rows).
    creating: bool
    created: int
    to_create: int
    phase: str | None  # the launch's: validate, create, done, failed; None: not in this process
    error: HdeError | None
    result: campaigns.LaunchResult | None

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def pending(self) -> int:
        return sum(self.counts.get(s, 0) for s in PENDING)

    @property
    def settled(self) -> int:
        return self.total - self.pending

    @property
    def handed_over(self) -> int:
        """Messages the provider took (sent, delivered or read): what was actually sent."""
        return sum(self.counts.get(s, 0) for s in HANDED_OVER)

    @property
    def fraction(self) -> float:
        """The share actually sent: a cancelled or failed message is final but not sent, so
        a run cancelled after 54 of 4,580 shows 1 %, not a full bar."""
        return self.handed_over / self.total if self.total else (0.0 if self.creating else 1.0)

    @property
    def outcomes(self) -> dict[str, int]:
        """How the messages ended up, by group, for the progress line: sent, failed,
        cancelled, held (wait for a reply), uncertain, pending (still with the dispatcher)."""
        return {
            "sent": self.handed_over,
            "failed": self.counts.get(MessageStatus.FAILED.value, 0),
            "cancelled": self.counts.get(MessageStatus.CANCELLED.value, 0),
            "held": self.counts.get(MessageStatus.HELD.value, 0),
            "uncertain": self.counts.get(MessageStatus.UNCERTAIN.value, 0),
            "pending": self.pending,
        }

    @property
    def activity(self) -> live.Activity:
        """Whether the view of this run should keep refreshing (:mod:`services.live`)."""
        if self.error is not None:
            return live.Activity.IDLE
        if self.creating:
            return live.Activity.SENDING
        return live.campaign_activity(self.status, self.counts)

    @property
    def interrupted(self) -> bool:
        """The launch stopped before every eligible row had its ticket (its process died, or
        it failed): launching the same list again adds the missing rows. A launch still
        writing in another process (``hde send``) is not interrupted."""
        if self.phase is not None or self.campaign_id is None:
            return False
        if self.status == ShownStatus.INTERRUPTED:
            return True
        return self.status != ShownStatus.LAUNCHING and self.tickets < self.eligible

    @property
    def stage(self) -> str:
        """Where the run is, in one word for the console: ``starting``, ``creating``,
        ``sending``, ``paused``, ``waiting`` (everything sendable went out; held messages
        wait for the clients' replies), ``complete``, ``cancelled`` or ``failed``."""
        if self.error is not None:
            return "failed"
        if self.creating:
            return "starting" if self.campaign_id is None else "creating"
        if self.status in (ShownStatus.CANCELLED, ShownStatus.PAUSED):
            return self.status
        if self.pending:
            return "sending"
        waiting = self.counts.get("held", 0) + self.counts.get("uncertain", 0)
        return "waiting" if waiting else "complete"

    @property
    def finished(self) -> bool:
        """Nothing is left to create or to send now (held messages wait for the client)."""
        if self.creating:
            return False
        if self.error is not None or self.status in (ShownStatus.CANCELLED, ShownStatus.DONE):
            return True
        return self.campaign_id is not None and self.pending == 0


def progress(app: App, key: str) -> Progress:
    """Where a launched campaign stands: the launch, then its messages per status."""
    job = launch_job(key)
    with app.db.reader() as session:
        campaign_id = session.scalar(select(Campaign.id).where(Campaign.key == key))
    if campaign_id is None:
        if job is None:
            raise NotFound("campaigns.error.not_found", key=key)
        return Progress(
            key=key,
            campaign_id=None,
            name="",
            status="starting",
            counts={s.value: 0 for s in MessageStatus},
            tickets=0,
            eligible=0,
            creating=job.running,
            created=0,
            to_create=job.total if job.phase == "create" else 0,
            phase=job.phase,
            error=job.error,
            result=job.result,
        )
    report = campaigns.campaign_report(app, key)
    creating = job is not None and job.running
    return Progress(
        key=key,
        campaign_id=campaign_id,
        name=report.name,
        status=report.status,
        counts=report.messages,
        tickets=report.tickets,
        eligible=report.eligible,
        creating=creating,
        created=job.done if job is not None and job.phase == "create" else report.tickets,
        to_create=job.total if job is not None and job.phase == "create" else report.eligible,
        phase=job.phase if job is not None else None,
        error=job.error if job is not None else None,
        result=job.result if job is not None else None,
    )


# -- results ------------------------------------------------------------------------------

RESULT_COLUMNS = (
    "row",
    "ticket",
    "name",
    "channel",
    "recipient",
    "kind",
    "status",
    "provider_id",
    "error_code",
    "error_text",
    "updated",
)


def results_file(app: App, key: str, fmt: str, lang: str | None = None) -> Path:
    """Every message of the campaign with the list row it came from, its status now and
    the provider's answer; ``csv`` or ``xlsx`` (safe for Excel)."""
    with app.db.reader() as session:
        campaign_id = session.scalar(select(Campaign.id).where(Campaign.key == key))
    if campaign_id is None:
        raise NotFound("campaigns.error.not_found", key=key)
    folder = app.settings.data_dir / EXPORTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{safe_file_name(key)}-results-{lang or 'ru'}.{fmt}"
    header = [t(f"bulk.results.col.{c}", lang) for c in RESULT_COLUMNS]
    write_table(path, header, _result_rows(app, campaign_id, lang))
    return path


def _result_rows(app: App, campaign_id: int, lang: str | None) -> Iterator[list[str]]:
    statuses = {s.value: t(f"status.{s.value}", lang) for s in MessageStatus}
    kinds = {k: t(f"bulk.results.kind.{k}", lang) for k in ("email", "text", "template")}
    with app.db.reader() as session:
        row_of: dict[int, str] = {}
        for ticket_id, data in session.execute(
            select(AuditEvent.ticket_id, AuditEvent.data).where(
                AuditEvent.campaign_id == campaign_id,
                AuditEvent.event == audit.Event.TICKET_CREATED.value,
            )
        ):
            if ticket_id is not None and isinstance(data, dict) and data.get("row") is not None:
                row_of[ticket_id] = str(data["row"])
        stmt = (
            select(
                Message.ticket_id,
                Contact.name,
                Channel.name,
                Message.recipient,
                Message.kind,
                Message.status,
                Message.provider_message_id,
                Message.error_code,
                Message.error_text,
                Message.updated_at,
            )
            .join(Channel, Channel.id == Message.channel_id)
            .join(Ticket, Ticket.id == Message.ticket_id)
            .join(Contact, Contact.id == Ticket.contact_id)
            .where(Message.campaign_id == campaign_id)
            .order_by(Message.ticket_id, Message.id)
            .execution_options(yield_per=5000)
        )
        for tid, name, channel, to, kind, status, pid, code, text, at in session.execute(stmt):
            yield [
                row_of.get(tid, ""),
                str(tid),
                name or "",
                channel,
                to,
                kinds.get(kind, kind),
                statuses.get(status, status),
                pid or "",
                code or "",
                text or "",
                at.astimezone().strftime("%Y-%m-%d %H:%M:%S") if at else "",
            ]
