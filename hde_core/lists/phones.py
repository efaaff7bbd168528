"""Phone numbers of a whole column at once, with the answer of the reference normaliser
(:func:`hde_core.domain.addresses.normalise_phone`) for every value.

libphonenumber costs ~30 µs a number in Python; a million-row list cannot afford that.
Why the fast path is exact rather than a look-alike:

1. For a value made only of ASCII digits, one optional leading ``+`` (after spaces) and
   the separators space, NBSP, ``-``, ``.``, ``(`` and ``)``, ``phonenumbers.parse`` sees
   no extension, no RFC 3966 part, no letters and no second number; every separator is in
   its ``_VALID_PUNCTUATION`` and is dropped by ``_normalize``. So its result depends only on
   (has ``+``, the digit string). (A property test checks this claim on generated values.)
   These shapes are found by a byte-level scan (:mod:`hde_core.lists.text`).
1b. A value with text around the number (``тел. 8 912 …``, ``… доб. 12``) is peeled by
   libphonenumber's own helpers, in ``parse``'s order (:func:`extract_number`); when what
   ``parse`` goes on with is a shape of step 1, it is decided as in step 2.
2. For such (``+``, digits) with the default region's country code, we replay the steps
   of ``parse`` / ``is_valid_number`` / ``format_number(E164)`` — country-code extraction,
   national-prefix stripping, possible-length tests, region choice by leading digits,
   number-type patterns — with the **region's own metadata patterns**, evaluated by RE2
   (pyarrow) over the whole column at once. Length-only decisions are taken by calling
   libphonenumber's own ``_test_number_length`` once per length. ``+<other code> …`` is
   replayed the same way with that country's metadata (what ``parse`` switches to).
3. Everything else — international dialling prefixes (``810…``), letters, odd Unicode,
   Excel's ``7.91234E+10`` — goes to the reference normaliser, once per distinct value.

A region whose metadata needs features the replay does not implement (a national-prefix
transform rule, capturing groups) simply has no fast path: its values take step 3.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np
import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc
from phonenumbers import PhoneMetadata
from phonenumbers.phonenumberutil import (
    ValidationResult,
    _extract_possible_number,
    _is_viable_phone_number,
    _maybe_strip_extension,
    _test_number_length,
)

from hde_core.domain.addresses import _SCIENTIFIC, normalise_phone
from hde_core.domain.eligibility import AddressStatus
from hde_core.lists.text import as_string_array, blank_mask, scan_phone_shapes

#: Codes of the ``status`` array every bulk normaliser returns.
OK, MISSING, INVALID = 0, 1, 2
STATUS_CODES = {
    AddressStatus.OK: OK,
    AddressStatus.MISSING: MISSING,
    AddressStatus.INVALID: INVALID,
}

_MAX_INPUT = 250  # phonenumbers._MAX_INPUT_STRING_LENGTH
_MAX_NSN = 17  # phonenumbers._MAX_LENGTH_FOR_NSN
_MIN_NSN = 2  # phonenumbers._MIN_LENGTH_FOR_NSN

#: A number as step 1 accepts it, once leading text is gone (Python syntax).
_PLAIN_NUMBER = re.compile("\\+?[0-9 \u00a0().\\-]*")
_DROP_DIGITS = str.maketrans("", "", "0123456789")
_TYPE_DESCS = (
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
    "fixed_line",
)
_NOT_STRIPPED = (
    ValidationResult.TOO_SHORT,
    ValidationResult.IS_POSSIBLE_LOCAL_ONLY,
    ValidationResult.INVALID_LENGTH,
)


@dataclass(frozen=True)
class BulkAddresses:
    """Per row: a status code (``OK``/``MISSING``/``INVALID``) and the normalised value."""

    status: np.ndarray  # int8
    values: pa.Array  # string, null unless status == OK

    def __len__(self) -> int:
        return len(self.status)


def _np(mask: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), dtype=bool)


def _full(arr: pa.Array, pattern: str | None, rows: np.ndarray | None = None) -> np.ndarray:
    """``_match_national_number(…, allow_prefix_match=False)``: the whole string matches.
    With ``rows`` (a mask), only those rows are matched; the others are False."""
    return _regex(arr, f"^(?:{pattern})$" if pattern else None, rows)


def _regex(arr: pa.Array, pattern: str | None, rows: np.ndarray | None = None) -> np.ndarray:
    out = np.zeros(len(arr), dtype=bool)
    if not pattern or len(arr) == 0:
        return out
    if rows is None or rows.mean() > 0.8:
        out[:] = _np(pc.match_substring_regex(arr, pattern))
        if rows is not None:
            out &= rows
        return out
    idx = np.flatnonzero(rows)
    if len(idx):
        out[idx] = _np(pc.match_substring_regex(arr.take(pa.array(idx)), pattern))
    return out


def _lengths(arr: pa.Array) -> np.ndarray:
    """Lengths of digit strings (ASCII: bytes are characters)."""
    return np.asarray(pc.binary_length(arr).to_numpy(zero_copy_only=False), dtype=np.int64)


def _length_table(lengths: tuple[int, ...] | list[int]) -> np.ndarray:
    table = np.zeros(_MAX_INPUT + 2, dtype=bool)
    table[[n for n in lengths if 0 <= n <= _MAX_INPUT]] = True
    return table


@dataclass(frozen=True)
class _RegionRules:
    """One region's validity rules: leading digits, general description, and the number
    types merged by possible lengths into one pattern each (a union of full matches)."""

    leading_digits: str | None
    general: str | None
    general_lengths: np.ndarray | None
    types: tuple[tuple[str, np.ndarray | None], ...]

    @classmethod
    def of(cls, meta: PhoneMetadata) -> _RegionRules:
        general = meta.general_desc
        names = list(_TYPE_DESCS)
        if not meta.same_mobile_and_fixed_line_pattern:
            names.append("mobile")
        groups: dict[tuple[int, ...], list[str]] = {}
        for name in names:
            desc = getattr(meta, name)
            if desc is None or not desc.national_number_pattern:
                continue
            groups.setdefault(tuple(desc.possible_length or ()), []).append(
                desc.national_number_pattern
            )
        return cls(
            leading_digits=meta.leading_digits,
            general=general.national_number_pattern if general else None,
            general_lengths=_length_table(general.possible_length)
            if general and general.possible_length
            else None,
            types=tuple(
                (
                    "|".join(f"(?:{p})" for p in patterns),
                    _length_table(lengths) if lengths else None,
                )
                for lengths, patterns in groups.items()
            ),
        )

    def valid(self, nsn: pa.Array, lengths: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """``_number_type_helper(nsn, meta) != UNKNOWN`` on ``rows``."""
        capped = np.minimum(lengths, _MAX_INPUT + 1)
        if self.general_lengths is not None:
            rows = rows & self.general_lengths[capped]
        rows = _full(nsn, self.general, rows)
        found = np.zeros(len(nsn), dtype=bool)
        for pattern, table in self.types:
            todo = rows & ~found if table is None else rows & ~found & table[capped]
            found |= _full(nsn, pattern, todo)
        return found


class _RegionReplay:
    """The replay of step 2 for one default region (built once per region, see :func:`_replay`)."""

    def __init__(self, region: str) -> None:
        meta = PhoneMetadata.metadata_for_region(region, None)
        if meta is None or meta.general_desc is None or meta.country_code is None:
            raise ValueError(region)
        self.cc = str(meta.country_code)
        self.general = meta.general_desc.national_number_pattern
        self.idd = meta.international_prefix
        self.npfp = meta.national_prefix_for_parsing or None
        self.npfp_literal = bool(self.npfp and re.fullmatch(r"[0-9]+", self.npfp))
        # Length-only decisions, straight from libphonenumber (it looks at len() only).
        self.length_result = np.array(
            [_test_number_length("0" * n, meta) for n in range(_MAX_INPUT + 2)], dtype=np.int8
        )
        regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE[meta.country_code]
        self.regions = [
            _RegionRules.of(m)
            for m in (PhoneMetadata.metadata_for_region(r.upper(), None) for r in regions)
            if m is not None
        ]

    @staticmethod
    def supported(region: str) -> bool:
        meta = PhoneMetadata.metadata_for_region(region, None)
        if meta is None or meta.general_desc is None or meta.country_code is None:
            return False
        cc = meta.country_code
        if phonenumbers.region_code_for_country_code(cc) != region:
            return False  # +cc numbers would be parsed with another region's metadata
        if meta.national_prefix_transform_rule:
            return False
        npfp = meta.national_prefix_for_parsing
        if npfp and re.compile(npfp).groups:
            return False
        code = str(cc)
        # Country codes are prefix-free; the replay relies on it.
        return not any(
            int(code[:i]) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE for i in range(1, len(code))
        )

    def _result_of_length(self, lengths: np.ndarray) -> np.ndarray:
        return self.length_result[np.minimum(lengths, len(self.length_result) - 1)]

    def _strip_national_prefix(self, number: pa.Array, rows: np.ndarray) -> pa.Array:
        """``_maybe_strip_national_prefix_carrier_code`` on ``rows`` (no transform rule, no
        capturing groups); other rows are returned unchanged."""
        if not self.npfp or len(number) == 0:
            return number
        if self.npfp_literal:
            hit = rows & _np(pc.starts_with(number, pattern=self.npfp))
            rest = pc.utf8_slice_codeunits(number, start=len(self.npfp))
        else:
            found = pc.extract_regex(number, f"^(?P<np>(?:{self.npfp}))(?P<rest>.*)$")
            hit = rows & _np(found.is_valid())
            rest = pc.fill_null(pc.struct_field(found, "rest"), "")
        if not hit.any():
            return number
        keep_original = _full(number, self.general, hit) & ~_full(rest, self.general, hit)
        return pc.if_else(pa.array(hit & ~keep_original), rest, number)

    def _is_valid(self, nsn: pa.Array, rows: np.ndarray) -> np.ndarray:
        """``is_valid_number`` for numbers of this country code, on ``rows``."""
        lengths = _lengths(nsn)
        if len(self.regions) == 1:
            return self.regions[0].valid(nsn, lengths, rows)
        result = np.zeros(len(nsn), dtype=bool)
        todo = rows.copy()
        for rules in self.regions:  # region_code_for_number: the first region that claims it
            if rules.leading_digits is not None:
                mine = _regex(nsn, f"^(?:{rules.leading_digits})", todo)
                result |= rules.valid(nsn, lengths, mine)
            else:
                mine = rules.valid(nsn, lengths, todo)
                result |= mine
            todo &= ~mine
        return result

    def run(self, plus: np.ndarray, digits: pa.Array) -> tuple[np.ndarray, np.ndarray, pa.Array]:
        """For (``+``, digits) rows: (handled here, valid, E.164). Rows not handled go to the
        reference normaliser."""
        cc = self.cc
        starts_cc = _np(pc.starts_with(digits, pattern=cc))
        handled = np.where(plus, starts_cc, True)
        if self.idd:  # "810…" in Russia: an international call, left to the reference
            handled &= ~_regex(digits, f"^(?:{self.idd})", ~plus)
        # Country code extraction (_maybe_extract_country_code).
        after_cc = pc.utf8_slice_codeunits(digits, start=len(cc))
        national_cc = starts_cc & ~plus & handled  # "7…" without "+": maybe the country code
        after_cc_stripped = self._strip_national_prefix(after_cc, national_cc)
        too_long = self._result_of_length(_lengths(digits)) == ValidationResult.TOO_LONG
        better_without_cc = national_cc & (
            (
                ~_full(digits, self.general, national_cc)
                & _full(after_cc_stripped, self.general, national_cc)
            )
            | too_long
        )
        national = pc.if_else(
            pa.array(plus),
            after_cc,
            pc.if_else(pa.array(better_without_cc), after_cc_stripped, digits),
        )
        too_short = _lengths(national) < _MIN_NSN
        # National prefix, kept only if what remains has a possible length (parse()).
        potential = self._strip_national_prefix(national, handled & ~too_short)
        result = self._result_of_length(_lengths(potential))
        keep = ~np.isin(result, list(_NOT_STRIPPED))
        national = pc.if_else(pa.array(keep), potential, national)
        length = _lengths(national)
        parsed = handled & ~too_short & (length >= _MIN_NSN) & (length <= _MAX_NSN)
        valid = self._is_valid(national, parsed)
        e164 = pc.binary_join_element_wise(pa.scalar("+" + cc), national, "")
        return handled, valid, e164


@cache
def _replay(region: str) -> _RegionReplay | None:
    return _RegionReplay(region) if _RegionReplay.supported(region) else None


def bulk_normalise_phones(
    column: pa.Array | pa.ChunkedArray,
    region: str = "RU",
    reference: Callable[[str], tuple[int, str | None]] | None = None,
) -> BulkAddresses:
    """Normalise every value of ``column`` (strings, blanks as ``""`` or null) to E.164."""
    raw = as_string_array(column)
    n = len(raw)
    status = np.full(n, INVALID, dtype=np.int8)
    blank = blank_mask(raw)
    status[blank] = MISSING
    out = pa.nulls(n, pa.string())
    handled = blank.copy()
    replay = _replay(region)
    if replay is not None and n:
        shape = scan_phone_shapes(raw)
        fast = shape.ok & (shape.digit_count >= 3) & ~blank
        rows = np.flatnonzero(fast)
        plus = shape.plus[rows]
        digits = shape.digits.take(pa.array(rows))
        # Step 1b: text around a number ("тел. …", "… доб. 12"), peeled off by libphonenumber.
        extra_rows, numbers = _extract_numbers(raw, np.flatnonzero(~fast & ~blank))
        if numbers:
            extra = scan_phone_shapes(pa.array(numbers, pa.string()))
            rows = np.concatenate([rows, extra_rows])
            plus = np.concatenate([plus, extra.plus])
            digits = pa.concat_arrays([digits, extra.digits])
        found_rows: list[np.ndarray] = []
        found_values: list[pa.Array] = []
        if len(rows):
            ok_rows, valid, e164 = replay.run(plus, digits)
            mine = rows[ok_rows]
            handled[mine] = True
            status[mine] = np.where(valid[ok_rows], OK, INVALID)
            good = ok_rows & valid
            found_rows.append(rows[good])
            found_values.append(e164.filter(pa.array(good)))
            # "+<another country code> …": the same replay with that country's metadata.
            foreign = np.flatnonzero(~ok_rows & plus)
            for replay_cc, members in _by_country(digits.take(pa.array(foreign))):
                picked = foreign[members]
                ok_cc, valid_cc, e164_cc = replay_cc.run(
                    np.ones(len(picked), dtype=bool), digits.take(pa.array(picked))
                )
                mine = rows[picked[ok_cc]]
                handled[mine] = True
                status[mine] = np.where(valid_cc[ok_cc], OK, INVALID)
                good_cc = ok_cc & valid_cc
                found_rows.append(rows[picked[good_cc]])
                found_values.append(e164_cc.filter(pa.array(good_cc)))
        if found_rows and sum(len(r) for r in found_rows):
            all_rows = np.concatenate(found_rows)
            order = np.argsort(all_rows, kind="stable")
            out = pc.replace_with_mask(
                out,
                pa.array(_scatter(n, all_rows)),
                pa.concat_arrays(found_values).take(pa.array(order)),
            )
    ref = reference or _reference_phone(region)
    out = apply_reference(raw, np.flatnonzero(~handled), ref, status, out)
    return BulkAddresses(status, out)


def _by_country(digits: pa.Array) -> list[tuple[_RegionReplay, np.ndarray]]:
    """Digits written after a '+' grouped by country code, for countries with a replay."""
    groups: dict[int, list[int]] = {}
    for i, number in enumerate(digits.to_pylist()):
        for length in (1, 2, 3):  # _extract_country_code: the first known prefix
            code = int(number[:length] or 0)
            if number[:1] != "0" and code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
                groups.setdefault(code, []).append(i)
                break
    out = []
    for code, members in groups.items():
        replay = _replay(phonenumbers.region_code_for_country_code(code))
        if replay is not None:
            out.append((replay, np.array(members, dtype=np.int64)))
    return out


def _extract_numbers(raw: pa.Array, rows: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """For ``rows`` that are not a plain number: the rows and numbers step 1b extracts."""
    found_rows: list[int] = []
    numbers: list[str] = []
    cache: dict[str, str | None] = {}
    if not len(rows):
        return np.zeros(0, dtype=np.int64), numbers
    for row, text in zip(rows.tolist(), raw.take(pa.array(rows)).to_pylist(), strict=True):
        if text is None:
            continue
        if text in cache:
            number = cache[text]
        else:
            number = cache[text] = extract_number(text)
        if number is not None:
            found_rows.append(row)
            numbers.append(number)
    return np.array(found_rows, dtype=np.int64), numbers


def extract_number(text: str) -> str | None:
    """What ``parse`` goes on with once leading text and an extension are dropped, computed
    with libphonenumber's own helpers in its own order — or None when that is not a plain
    number (the reference normaliser then decides the value).

    From here ``parse`` depends only on the number it is left with, so a plain result is
    decided by the fast path like any plain value.
    """
    s = text.strip()
    if not s or len(s) > _MAX_INPUT or ";" in s or _SCIENTIFIC.match(s):
        return None  # empty, too long, RFC 3966 parameters, Excel's scientific notation
    extracted = _extract_possible_number(s)
    if _PLAIN_NUMBER.fullmatch(extracted):
        # Leading text only ("тел. 8 912 …"): a plain number has no extension (step 1).
        return extracted if _count_digits(extracted) >= 3 else None
    if not _is_viable_phone_number(extracted):
        return None
    _extension, number = _maybe_strip_extension(extracted)
    if _PLAIN_NUMBER.fullmatch(number) and _count_digits(number) >= 3:
        return number
    return None


def _count_digits(number: str) -> int:
    return len(number) - len(number.translate(_DROP_DIGITS))


def apply_reference(
    raw: pa.Array,
    rows: np.ndarray,
    ref: Callable[[str], tuple[int, str | None]],
    status: np.ndarray,
    out: pa.Array,
) -> pa.Array:
    """Decide ``rows`` with the reference normaliser, once per distinct value; fills
    ``status`` in place and returns ``out`` with their normalised values."""
    if not len(rows):
        return out
    cache: dict[str | None, tuple[int, str | None]] = {}
    found: list[str] = []
    codes = np.empty(len(rows), dtype=np.int8)
    for i, text in enumerate(raw.take(pa.array(rows)).to_pylist()):
        hit = cache.get(text)
        if hit is None:
            hit = cache[text] = ref(text) if text is not None else (MISSING, None)
        codes[i] = hit[0]
        if hit[0] == OK:
            found.append(hit[1] or "")
    status[rows] = codes
    if not found:
        return out
    return pc.replace_with_mask(
        out, pa.array(_scatter(len(raw), rows[codes == OK])), pa.array(found, pa.string())
    )


def _scatter(n: int, rows: np.ndarray) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    mask[rows] = True
    return mask


def _reference_phone(region: str) -> Callable[[str], tuple[int, str | None]]:
    def ref(text: str) -> tuple[int, str | None]:
        result = normalise_phone(text, region)
        return STATUS_CODES[result.status], result.value

    return ref
