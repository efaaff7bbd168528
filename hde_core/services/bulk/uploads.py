"""The wizard's steps 1–3: an upload saved on the server, its preview and its column mapping."""

from __future__ import annotations

import os
import re
import shutil
import time
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from hde_core.bootstrap import App
from hde_core.db.models import Channel
from hde_core.domain.channels import ChannelKind
from hde_core.errors import InputError
from hde_core.lists.columns import ROLES
from hde_core.services.bulk.cache import _Recent
from hde_core.services.lists import (
    LoadedList,
    load_list,
    save_mapping,
)
from hde_core.services.lists.validation import reaching_roles

UPLOADS_DIR = "uploads"
#: Uploaded lists (and their reports) older than this go when a new list is uploaded.
KEEP_UPLOADS_SECONDS = 7 * 86400
PREVIEW_ROWS = 20


# -- 1. upload ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Upload:
    """A list saved on the server; the session keeps this (a path), never the rows."""

    id: str
    name: str
    path: str
    size: int


def uploads_dir(app: App) -> Path:
    return app.settings.data_dir / UPLOADS_DIR


def store_upload(app: App, name: str, data: bytes, keep: Collection[str] = frozenset()) -> Upload:
    """Save an uploaded list (whole or not at all). Raises :class:`InputError` when it is over
    ``HDE_UPLOAD_LIMIT_MB``; old uploads are cleared out on the way, except those in ``keep``
    (the ids of uploads that wizard drafts still name)."""
    limit = app.settings.upload_limit_mb
    if len(data) > limit * 1024 * 1024:
        raise InputError(
            "lists.error.too_large", name=name, size=f"{len(data) / 1024 / 1024:.0f}", limit=limit
        )
    root = uploads_dir(app)
    root.mkdir(parents=True, exist_ok=True)
    prune_uploads(root, keep=keep)
    upload_id = uuid.uuid4().hex
    folder = root / upload_id
    folder.mkdir()
    path = folder / safe_file_name(name)
    partial = folder / ".partial"
    partial.write_bytes(data)
    os.replace(partial, path)
    return Upload(upload_id, name, str(path), len(data))


def safe_file_name(name: str) -> str:
    """The file's own name without folders or characters a file system may refuse."""
    base = re.sub(r"[^\w.\- ()]+", "_", Path(name.replace("\\", "/")).name).strip(" .")
    return (base or "list.csv")[-120:]


def prune_uploads(
    root: Path, older_than: float = KEEP_UPLOADS_SECONDS, keep: Collection[str] = frozenset()
) -> int:
    """Remove upload folders older than ``older_than`` seconds, but those named in ``keep``;
    returns how many."""
    cutoff = time.time() - older_than
    removed = 0
    for folder in root.iterdir() if root.is_dir() else ():
        try:
            if folder.name in keep:
                continue
            if folder.is_dir() and folder.stat().st_mtime < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
        except OSError:
            continue
    return removed


# -- 2. preview and 3. mapping -----------------------------------------------------------


@dataclass(frozen=True)
class ListFacts:
    """What the preview shows about a list as read."""

    name: str
    format: str  # "csv" | "xlsx"
    encoding: str | None
    delimiter: str | None
    sheet: str | None
    rows: int
    headers: tuple[str, ...]
    #: role → column: this shape's saved mapping, else the one suggested by the headers.
    mapping: dict[str, str]
    mapping_source: str  # "saved" | "suggested"


_LOADED: _Recent[tuple[str, tuple[tuple[str, str], ...]], LoadedList] = _Recent(4, 600.0)


def full_mapping(mapping: Mapping[str, str | None]) -> tuple[tuple[str, str], ...]:
    """Every role, ``""`` for a role with no column: one hashable form of a mapping."""
    return tuple((role, mapping.get(role) or "") for role in ROLES)


def inspect_upload(app: App, upload: Upload) -> ListFacts:
    """Read the list (encoding and delimiter detected) and map its columns. Raises
    :class:`InputError` in plain words for a file that is not a contact list."""
    loaded = load_list(app, Path(upload.path), filename=upload.name)
    _LOADED.put((upload.path, full_mapping(loaded.mapping)), loaded)
    return ListFacts(
        name=upload.name,
        format=loaded.format,
        encoding=loaded.encoding,
        delimiter=loaded.delimiter,
        sheet=loaded.sheet,
        rows=loaded.row_count,
        headers=tuple(loaded.headers),
        mapping=dict(loaded.mapping),
        mapping_source="saved" if loaded.mapping_source.startswith("saved") else "suggested",
    )


def loaded_list(app: App, upload: Upload, mapping: Mapping[str, str | None]) -> LoadedList:
    key = (upload.path, full_mapping(mapping))
    found = _LOADED.get(key)
    if found is None:
        found = load_list(app, Path(upload.path), filename=upload.name, mapping=dict(key[1]))
        _LOADED.put(key, found)
    return found


def preview_rows(
    app: App, upload: Upload, mapping: Mapping[str, str | None], limit: int = PREVIEW_ROWS
) -> list[dict[str, str]]:
    """The first rows, as read (every cell text)."""
    loaded = loaded_list(app, upload, mapping)
    return [{k: str(v) for k, v in row.items()} for row in loaded.table.slice(0, limit).to_pylist()]


#: Roles a list can reach its clients by (the name alone reaches nobody).
CONTACT_ROLES = ("email", "phone", "telegram", "viber")


@dataclass(frozen=True)
class MappingGap:
    """A picked channel that no mapped column can reach anyone by."""

    channel: str
    roles: tuple[str, ...]  # a column for any of these would do


def mapping_gaps(
    app: App, mapping: Mapping[str, str | None], channels: Sequence[str] = ()
) -> list[MappingGap]:
    """Said at the mapping step (issue 16.9), not after the message is written: the picked
    channels that no mapped column reaches; with no channel picked yet, a gap (channel
    ``""``) when no column is mapped to any contact role at all."""
    mapped = {role for role, column in mapping.items() if column}
    if not channels:
        if mapped & set(CONTACT_ROLES):
            return []
        return [MappingGap("", CONTACT_ROLES)]
    with app.db.reader() as session:
        rows = session.execute(select(Channel.name, Channel.kind).where(Channel.name.in_(channels)))
        kinds: dict[str, str] = {name: kind for name, kind in rows}
    gaps = []
    for name in channels:
        if name not in kinds:
            continue
        roles = reaching_roles(ChannelKind(kinds[name]))
        if not mapped & set(roles):
            gaps.append(MappingGap(name, roles))
    return gaps


def remember_mapping(
    app: App, upload: Upload, mapping: Mapping[str, str | None], actor: str
) -> None:
    """Save the confirmed mapping: the next list of this shape maps itself."""
    loaded = loaded_list(app, upload, mapping)
    save_mapping(app, loaded, {r: c for r, c in full_mapping(mapping) if c}, actor)


def report_file_name(upload: Upload, fmt: str, what: str = "report") -> str:
    return f"{Path(safe_file_name(upload.name)).stem}-{what}.{fmt}"
