"""The bulk outreach wizard's side of the core (issue 7 §4; SPEC §5, R9, R13), up to the
launch (which is :mod:`hde_core.services.bulk_runs`).

The console's wizard page only draws what these functions return, so a 100,000-row list
never travels to the browser row by row and never sits in a user's session:

- an upload is saved under ``data/uploads/<id>/``; the session keeps its path only;
- reading, mapping and validation are the list engine's (whole columns at once), and the
  verdicts are :mod:`hde_core.services.campaigns` planning's own — the very rows a launch
  would create; the last few results stay in this process for a short while, keyed by the
  wizard's draft, so redrawing the page does not compute them again;
- the page asks for counts per reason, one page of rows, the cost of the template messages
  and a report file written on demand.

The steps live in ``uploads`` (1–3), ``message`` (4–5) and ``checking`` (6); every name is
re-exported here, so faces keep writing ``bulk.check(app, draft)``.
"""

from hde_core.lists.columns import ROLES
from hde_core.services.bulk.checking import (
    CHECK_TTL_SECONDS,
    PAGE_SIZE,
    SHOW_ALL,
    SHOW_ELIGIBLE,
    SHOW_PROBLEMS,
    ActionLine,
    Check,
    Draft,
    ReasonLine,
    RowsPage,
    action_lines,
    check,
    cost_note,
    forget_cached,
    make_draft,
    money,
    reason_lines,
    rows_page,
    show_options,
    validation_report,
)
from hde_core.services.bulk.message import (
    ChannelChoice,
    TemplateChoice,
    WaOptions,
    channel_choices,
    placeholder_for,
    wa_options,
)
from hde_core.services.bulk.uploads import (
    CONTACT_ROLES,
    KEEP_UPLOADS_SECONDS,
    PREVIEW_ROWS,
    UPLOADS_DIR,
    ListFacts,
    MappingGap,
    Upload,
    full_mapping,
    inspect_upload,
    loaded_list,
    mapping_gaps,
    preview_rows,
    prune_uploads,
    remember_mapping,
    report_file_name,
    safe_file_name,
    store_upload,
    uploads_dir,
)

__all__ = [
    "ROLES",
    "ActionLine",
    "CHECK_TTL_SECONDS",
    "CONTACT_ROLES",
    "ChannelChoice",
    "Check",
    "Draft",
    "KEEP_UPLOADS_SECONDS",
    "ListFacts",
    "MappingGap",
    "PAGE_SIZE",
    "PREVIEW_ROWS",
    "ReasonLine",
    "RowsPage",
    "SHOW_ALL",
    "SHOW_ELIGIBLE",
    "SHOW_PROBLEMS",
    "TemplateChoice",
    "UPLOADS_DIR",
    "Upload",
    "WaOptions",
    "action_lines",
    "channel_choices",
    "check",
    "cost_note",
    "forget_cached",
    "full_mapping",
    "inspect_upload",
    "loaded_list",
    "mapping_gaps",
    "make_draft",
    "money",
    "placeholder_for",
    "preview_rows",
    "prune_uploads",
    "reason_lines",
    "remember_mapping",
    "report_file_name",
    "rows_page",
    "safe_file_name",
    "show_options",
    "store_upload",
    "uploads_dir",
    "validation_report",
    "wa_options",
]
