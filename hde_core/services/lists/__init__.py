"""Contact lists (SPEC §2, §5): load a CSV/XLSX export, map its columns, and decide for every
row who can be reached on the chosen channel(s) and why not — before anything is sent.

- :func:`load_list` reads the file (encoding and delimiter detected), suggests the column
  mapping from Russian/English header synonyms or takes the one saved for this list shape.
- :func:`save_mapping` remembers a confirmed mapping for the shape.
- :func:`validate_list` gives every row exactly one verdict — ``evaluate``'s, for the
  channel state and everything the database knows about the recipient — with the first
  eligible channel of an ordered fallback list (R9).
- :func:`write_report` writes one row per input row, safe to open in Excel.

A million rows take seconds: whole columns are normalised at once (see
:mod:`hde_core.lists.phones`, :mod:`hde_core.lists.emails`) and the channel's identities are
loaded in one query. A bad row never stops the list; it gets its code.

The package is split by role: :mod:`.loading`, :mod:`.validation`, :mod:`.report`.
"""

from hde_core.services.lists.loading import LoadedList, check_mapping, load_list, save_mapping
from hde_core.services.lists.report import report_header, report_rows, write_report
from hde_core.services.lists.validation import (
    CHUNK_ROWS,
    ChannelInfo,
    RowVerdict,
    ValidationResult,
    parse_channels,
    recipient_column,
    validate_list,
)

__all__ = [
    "CHUNK_ROWS",
    "ChannelInfo",
    "LoadedList",
    "RowVerdict",
    "ValidationResult",
    "check_mapping",
    "load_list",
    "parse_channels",
    "recipient_column",
    "report_header",
    "report_rows",
    "save_mapping",
    "validate_list",
    "write_report",
]
