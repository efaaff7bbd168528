"""The bulk wizard as a draft kept per user (issue 16.1).

A Streamlit session dies with F5, and a page's widgets forget their values when the user
visits another page; a team lead who uploaded a 5,000-row list and wrote the message must
not lose it. So every step's values are saved here, in the database, one draft per user:

- the uploaded list stays on disk under ``data/uploads/<upload_id>/`` (a 50 MB list is
  never copied into a row); the draft names it, and :func:`kept_uploads` keeps the
  pruning of old uploads away from it;
- the values (mapping, channels, message, template, step) are one small JSON document;
- a launch consumes the draft (:func:`mark_launched`): its values go, the campaign key
  stays so that the page can show that run's progress on return. Launching the same
  values again is the same campaign (its key comes from the file, channels and message)
  and adds nothing already queued;
- "start over" discards it (:func:`discard_draft`) with its upload;
- drafts nobody touched for :data:`KEEP_DRAFTS_SECONDS` go (:func:`prune_drafts`), and
  their uploads with the next pruning.

The draft is per *user*, not per browser session: a new tab, a new browser, or a new
sign-in finds it.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hde_core.bootstrap import App
from hde_core.db.models import BulkDraft, User
from hde_core.domain.roles import Permission
from hde_core.services.authz import authorize
from hde_core.services.bulk.uploads import Upload, safe_file_name, store_upload, uploads_dir

#: A draft nobody touched for this long is dropped (its upload goes with the next pruning).
KEEP_DRAFTS_SECONDS = 30 * 86400

#: The wizard's steps as the draft records how far the user got.
STEP_UPLOAD, STEP_MAPPING, STEP_CHANNELS, STEP_MESSAGE, STEP_CHECKED = 1, 3, 4, 5, 6


@dataclass(frozen=True)
class SavedDraft:
    """What a user's wizard held when it was last drawn."""

    upload: Upload | None
    step: int
    state: dict[str, Any] = field(default_factory=dict)
    launched_key: str | None = None
    #: The draft named a list that is no longer on the server (pruned or removed).
    upload_lost: bool = False

    @property
    def empty(self) -> bool:
        return self.upload is None and not self.state and self.launched_key is None


def _user_id(session: Session, actor: str) -> int:
    authorize(session, actor, Permission.CREATE_TICKET, system_allowed=False)
    user_id = session.scalar(select(User.id).where(User.login == actor))
    assert user_id is not None  # authorize found the user
    return user_id


def _draft(session: Session, user_id: int) -> BulkDraft | None:
    return session.scalar(select(BulkDraft).where(BulkDraft.user_id == user_id))


def _upload_path(app: App, upload_id: str, name: str) -> Path:
    return uploads_dir(app) / upload_id / safe_file_name(name)


def saved_draft(app: App, actor: str) -> SavedDraft | None:
    """The user's draft, or None when there is none."""
    with app.db.reader() as session:
        row = _draft(session, _user_id(session, actor))
        if row is None:
            return None
        upload, lost = None, False
        if row.upload_id and row.upload_name:
            path = _upload_path(app, row.upload_id, row.upload_name)
            if path.is_file():
                upload = Upload(row.upload_id, row.upload_name, str(path), row.upload_size or 0)
            else:
                lost = True
        return SavedDraft(upload, row.step, dict(row.state or {}), row.launched_key, lost)


def save_draft(
    app: App,
    actor: str,
    upload: Upload | None,
    step: int,
    state: dict[str, Any],
    launched_key: str | None = None,
) -> None:
    """Replace the user's draft with these values (JSON-able; small)."""
    now = app.clock.now()
    with app.db.transaction() as session:
        user_id = _user_id(session, actor)
        row = _draft(session, user_id)
        if row is None:
            row = BulkDraft(user_id=user_id)
            session.add(row)
        row.step = step
        row.upload_id = upload.id if upload else None
        row.upload_name = upload.name[:255] if upload else None
        row.upload_size = upload.size if upload else None
        row.state = dict(state)
        row.launched_key = launched_key
        row.updated_at = now


def mark_launched(app: App, actor: str, key: str) -> None:
    """The draft was launched as campaign ``key``: its values are consumed (the next visit
    starts a new list), the key stays so that the page shows that run."""
    save_draft(app, actor, None, STEP_UPLOAD, {}, launched_key=key)


def discard_draft(app: App, actor: str) -> bool:
    """Drop the user's draft and its uploaded list ("start over"). Returns whether there
    was one. A list that a campaign is being created from is read before this can run
    (the launch consumed the draft first), so removing it here is safe."""
    with app.db.transaction() as session:
        row = _draft(session, _user_id(session, actor))
        if row is None:
            return False
        upload_id = row.upload_id
        session.delete(row)
    if upload_id:
        shutil.rmtree(uploads_dir(app) / upload_id, ignore_errors=True)
    return True


def prune_drafts(app: App, older_than: float = KEEP_DRAFTS_SECONDS) -> int:
    """Drop drafts not touched for ``older_than`` seconds; returns how many."""
    cutoff = app.clock.now() - timedelta(seconds=older_than)
    with app.db.transaction() as session:
        result = session.execute(delete(BulkDraft).where(BulkDraft.updated_at < cutoff))
        return int(getattr(result, "rowcount", 0) or 0)


def kept_uploads(app: App) -> set[str]:
    """Upload folders a draft still needs (pruning old uploads leaves them alone)."""
    with app.db.reader() as session:
        ids = session.scalars(select(BulkDraft.upload_id).where(BulkDraft.upload_id.isnot(None)))
        return {u for u in ids if u}


def upload_list(app: App, actor: str, name: str, data: bytes) -> Upload:
    """Step 1: save the user's uploaded list, clearing stale drafts and old uploads on the
    way (never a list that a draft still names). The caller saves it into the draft."""
    authorize(app, actor, Permission.CREATE_TICKET, system_allowed=False)
    prune_drafts(app)
    return store_upload(app, name, data, keep=kept_uploads(app))
