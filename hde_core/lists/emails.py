"""Email addresses of a whole column at once, with the answer of the reference normaliser
(:func:`hde_core.domain.addresses.normalise_email`) for every value.

Why the fast path is exact: for an ASCII address whose local part is a dot-atom and whose
domain is dot-separated hostname labels (1–63 characters, no ``--`` anywhere, at least one
dot, the last label ending with a letter), email-validator 2.x takes no branch that can
fail except the total length (≤ 254) and the special-use names (``.local``, ``.test`` …);
it returns the local part unchanged (lower-cased only for the RFC 2142 role names such as
``info`` or ``support``) and the domain lower-cased by UTS-46. Both are checked here with RE2
over the whole column. Everything else — IDN, quoted parts, odd whitespace, any address
near a limit — goes to email-validator itself, once per distinct value.

With ``check_deliverability``, syntax is decided as above and DNS is asked once per
distinct domain (email-validator's own deliverability check).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES

from hde_core.domain.addresses import normalise_email
from hde_core.lists.phones import (
    INVALID,
    MISSING,
    OK,
    STATUS_CODES,
    BulkAddresses,
    apply_reference,
)
from hde_core.lists.text import as_string_array, blank_mask

_ATEXT = r"[A-Za-z0-9_!#$%&'*+/=?^`{|}~-]"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_TLD = r"(?:[A-Za-z0-9][A-Za-z0-9-]{0,61})?[A-Za-z]"
_STRIPPED = " \t\r\n\u00a0"  # what str.strip() removes, the common part of it
_WS = r"[ \t\r\n\x{00A0}]*"
_FAST = f"^{_WS}{_ATEXT}+(?:\\.{_ATEXT}+)*@(?:{_LABEL}\\.)+{_TLD}{_WS}$"
_EMAIL_MAX_LENGTH = 254
_LOCAL_AT_DOMAIN = re.compile(
    "([A-Za-z0-9_!#$%&'*+/=?^`{|}~-]+(?:\\.[A-Za-z0-9_!#$%&'*+/=?^`{|}~-]+)*)@([^@\\s<>\"]+)"
)


def _special_use_pattern() -> str:
    names = "|".join(name.replace(".", r"\.") for name in SPECIAL_USE_DOMAIN_NAMES)
    return f"(?i)(?:^|\\.)(?:{names})$"


def bulk_normalise_emails(
    column: pa.Array | pa.ChunkedArray,
    check_deliverability: bool = False,
    deliverable: Callable[[str], bool] | None = None,
) -> BulkAddresses:
    """Normalise every value of ``column``; ``deliverable(domain)`` replaces the DNS check
    (tests pass a fake resolver's answer)."""
    raw = as_string_array(column)
    n = len(raw)
    status = np.full(n, INVALID, dtype=np.int8)
    blank = blank_mask(raw)
    status[blank] = MISSING
    handled = blank.copy()
    out = pa.nulls(n, pa.string())
    if n:
        matched = _mask(pc.match_substring_regex(raw, _FAST))
        if matched.any():
            idx = np.flatnonzero(matched)
            core = pc.utf8_trim(raw.take(pa.array(idx)), characters=_STRIPPED)
            parts = pc.split_pattern(core, "@")  # exactly one '@' in a matched value
            local = pc.list_element(parts, 0)
            domain = pc.list_element(parts, 1)
            length = np.asarray(pc.binary_length(core).to_numpy(zero_copy_only=False))
            simple = (
                (length <= _EMAIL_MAX_LENGTH)
                & ~_mask(pc.match_substring(domain, "--"))
                & ~_mask(pc.match_substring_regex(domain, _special_use_pattern()))
            )
            local_lower = pc.utf8_lower(local)
            role = pc.is_in(local_lower, value_set=pa.array(CASE_INSENSITIVE_MAILBOX_NAMES))
            value = pc.binary_join_element_wise(
                pc.if_else(role, local_lower, local), pc.ascii_lower(domain), "@"
            )
            rows = idx[simple]
            handled[rows] = True
            status[rows] = OK
            out = pc.replace_with_mask(
                out, pa.array(_scatter(n, rows)), value.filter(pa.array(simple))
            )
    out = apply_reference(raw, np.flatnonzero(~handled), _EmailReference(), status, out)
    if check_deliverability:
        out = _check_domains(status, out, deliverable or _dns_deliverable)
    return BulkAddresses(status, out)


class _EmailReference:
    """The reference, with the domain checked once per distinct domain.

    For ``local@domain`` with an ASCII dot-atom local part (and no display name, quotes or
    whitespace), email-validator validates the local part and the domain independently and
    then the three lengths; so the domain's verdict and Unicode form are taken from
    ``validate_email("a@" + domain)`` (a shorter address: it fails only where every longer
    one does) and the lengths are checked here. Anything else is validated as a whole.
    """

    def __init__(self) -> None:
        #: domain → (Unicode form, longest UTF-8 length of its three forms), None: invalid
        self.domains: dict[str, tuple[str, int] | None] = {}

    def __call__(self, text: str) -> tuple[int, str | None]:
        match = _LOCAL_AT_DOMAIN.fullmatch(text.strip())
        if match is None:
            result = normalise_email(text)
            return STATUS_CODES[result.status], result.value
        local, domain = match.groups()
        if domain not in self.domains:
            try:
                checked = validate_email("a@" + domain, check_deliverability=False)
                longest = max(
                    len(form.encode("utf-8"))
                    for form in (domain, checked.domain, checked.ascii_domain)
                )
                self.domains[domain] = (checked.domain, longest)
            except EmailNotValidError:
                self.domains[domain] = None
        forms = self.domains[domain]
        if forms is None:
            return INVALID, None
        unicode_domain, longest = forms
        # The original, normalised and ASCII forms share the (ASCII) local part.
        if len(local) + 1 + longest > _EMAIL_MAX_LENGTH:
            return INVALID, None
        if local.lower() in CASE_INSENSITIVE_MAILBOX_NAMES:
            local = local.lower()
        return OK, f"{local}@{unicode_domain}"


def _check_domains(
    status: np.ndarray, out: pa.Array, deliverable: Callable[[str], bool]
) -> pa.Array:
    """Syntax-valid addresses whose domain does not take mail become invalid (once per domain)."""
    rows = np.flatnonzero(status == OK)
    if not len(rows):
        return out
    values = out.take(pa.array(rows)).to_pylist()
    verdicts: dict[str, bool] = {}
    for row, value in zip(rows, values, strict=True):
        domain = value.rsplit("@", 1)[1]
        ok = verdicts.get(domain)
        if ok is None:
            ok = verdicts[domain] = deliverable(domain)
        if not ok:
            status[row] = INVALID
    bad = status[rows] != OK
    if bad.any():
        out = pc.if_else(pa.array(_scatter(len(out), rows[bad])), pa.scalar(None, pa.string()), out)
    return out


def _dns_deliverable(domain: str) -> bool:
    """email-validator's own deliverability check (MX, else A/AAAA; null MX refused)."""
    try:
        validate_email(f"postmaster@{domain}", check_deliverability=True)
    except EmailNotValidError:
        return False
    return True


def _mask(arr: pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(arr, False).to_numpy(zero_copy_only=False), dtype=bool)


def _scatter(n: int, rows: np.ndarray) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    mask[rows] = True
    return mask
