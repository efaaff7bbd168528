"""Small helpers for the console's choice widgets.

Streamlit calls a ``format_func`` later, outside the script run, where the session's
language is unknown: so labels are translated first and the function only picks one.
"""

from __future__ import annotations

from collections.abc import Callable


def blank_as(label: str) -> Callable[[str], str]:
    """Show the empty choice ("", meaning "all" or "none" or "new") as ``label``."""
    return lambda value: value or label
