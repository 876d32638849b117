"""Typed access to the fields of parsed JSON and YAML records, with errors that name them.

Structural problems (a missing key, a string where a number belongs) raise
:class:`~possible.errors.FormatError`; values of the right type that break a domain rule (an
unknown blood group, a cPRA above 1) raise :class:`~possible.errors.ValidationError`.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TypeVar

import numpy as np

from possible.domain import MAX_AGE, MAX_SCORE, BloodGroup, Donor, Patient, Pool
from possible.errors import FormatError, InputError, ValidationError, ValidationErrors

__all__ = [
    "build_pool",
    "describe",
    "expect_bool",
    "expect_id",
    "expect_list",
    "expect_mapping",
    "expect_number",
    "optional",
    "optional_value",
    "parse_age",
    "parse_blood_group",
    "parse_fraction",
    "require",
]

T = TypeVar("T")


def describe(value: object) -> str:
    """Describe a parsed value in a few words, for messages: ``a string '12.5'``, ``null`` ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"a string {value!r}"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    return f"a {type(value).__name__}"


def require(record: Mapping[str, object], key: str, *, record_id: str | None) -> object:
    """Return the value of a required `key`; raise a :class:`FormatError` naming it if missing."""
    try:
        return record[key]
    except KeyError:
        raise FormatError("missing required field", record=record_id, field=key) from None


def optional(
    record: Mapping[str, object], keys: Sequence[str], *, record_id: str | None
) -> tuple[str, object] | None:
    """Return the first of several alias `keys` present (and not null) in `record`, with its value.

    Raises
    ------
    ValidationError
        If two aliases are present with different values.
    """
    found: tuple[str, object] | None = None
    for key in keys:
        value = record.get(key)
        if value is None:
            continue
        if found is None:
            found = (key, value)
        elif value != found[1]:
            raise ValidationError(
                f"conflicts with {found[0]!r} ({describe(found[1])} against {describe(value)})",
                record=record_id,
                field=key,
            )
    return found


def optional_value(
    record: Mapping[str, object],
    key: str,
    parse: Callable[..., T],
    *,
    record_id: str | None,
) -> T | None:
    """Parse ``record[key]`` with `parse` (given `record_id` and `field`); ``None`` if absent."""
    value = record.get(key)
    return None if value is None else parse(value, record_id=record_id, field=key)


def expect_mapping(value: object, *, record_id: str | None, field: str | None) -> dict[str, object]:
    """Return `value` if it is an object (a mapping, as JSON and YAML give)."""
    if not isinstance(value, dict):
        raise FormatError(
            f"expected an object, got {describe(value)}", record=record_id, field=field
        )
    return value


def expect_list(value: object, *, record_id: str | None, field: str | None) -> list[object]:
    """Return `value` if it is a list."""
    if not isinstance(value, list):
        raise FormatError(f"expected a list, got {describe(value)}", record=record_id, field=field)
    return value


def expect_id(
    value: object, *, record_id: str | None, field: str | None, allow_int: bool = True
) -> str:
    """Return an id: a non-empty string, or (if `allow_int`) an integer as peers write them."""
    if isinstance(value, str) and value:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate, which JSON escapes allow
            raise FormatError(
                f"id {value!r} is not valid Unicode text", record=record_id, field=field
            ) from None
        return value
    if allow_int and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    kind = "a non-empty string or an integer" if allow_int else "a non-empty string"
    raise FormatError(
        f"expected an id ({kind}), got {describe(value)}", record=record_id, field=field
    )


def parse_day(text: str) -> dt.date:
    """Read a date written ``YYYY-MM-DD``, the only form pools and options use.

    Raises
    ------
    ValueError
        For anything else, including the other ISO 8601 forms Python's ``fromisoformat``
        takes (``20250101``, ``2025-W01-1``).
    """
    if not _ISO_DAY.fullmatch(text):
        raise ValueError(f"{text!r} is not a date (expected YYYY-MM-DD)")
    return dt.date.fromisoformat(text)


_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def expect_number(value: object, *, record_id: str | None, field: str | None) -> float:
    """Return a finite number (an integer or a float; not a boolean, not a numeric string)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:  # an integer too large for a float
            number = math.inf
        if math.isfinite(number):
            return number
    raise FormatError(f"expected a number, got {describe(value)}", record=record_id, field=field)


def expect_bool(value: object, *, record_id: str | None, field: str | None) -> bool:
    """Return `value` if it is a boolean."""
    if isinstance(value, bool):
        return value
    raise FormatError(
        f"expected true or false, got {describe(value)}", record=record_id, field=field
    )


def parse_blood_group(value: object, *, record_id: str | None, field: str) -> BloodGroup:
    """Parse a blood group written as O, A, B or AB."""
    if not isinstance(value, str):
        raise FormatError(
            f"expected a blood group (O, A, B or AB), got {describe(value)}",
            record=record_id,
            field=field,
        )
    try:
        return BloodGroup.parse(value)
    except ValueError as err:
        raise ValidationError(str(err), record=record_id, field=field) from None


def parse_fraction(
    value: object, *, record_id: str | None, field: str, percent: bool = False
) -> float:
    """Parse a cPRA as a fraction in [0, 1], or in percent (0 to 100) if `percent`."""
    number = expect_number(value, record_id=record_id, field=field)
    top = 100.0 if percent else 1.0
    if not 0.0 <= number <= top:
        hint = "" if percent or number > 100 else " (a percentage? this format wants a fraction)"
        raise ValidationError(
            f"{number!r} is outside [0, {top:g}]{hint}", record=record_id, field=field
        )
    return number / 100.0 if percent else number


def parse_age(value: object, *, record_id: str | None, field: str) -> float:
    """Parse an age in years, at least 0 and below 130."""
    number = expect_number(value, record_id=record_id, field=field)
    if not 0.0 <= number < MAX_AGE:
        raise ValidationError(f"age {number!r} is not plausible", record=record_id, field=field)
    return number


def build_pool(
    patients: Iterable[Patient],
    donors: Iterable[Donor],
    arc_arrays: tuple[Sequence[str], Sequence[str], Sequence[float]],
    *,
    fields: Mapping[str, str],
) -> Pool:
    """Call :meth:`Pool.build`, with its field names translated to the format's (`fields`)."""
    donor_ids, patient_ids, scores = arc_arrays
    # Pool.build checks scores too; checking first words the message for a file's reader.
    values = np.asarray(scores, dtype=np.float64)
    bad = np.flatnonzero(~(values >= 0) | ~np.isfinite(values) | (values > MAX_SCORE))
    if bad.size:
        raise ValidationErrors(
            [
                ValidationError(
                    f"arc to {patient_ids[k]!r} has score {float(values[k])!r}; "
                    f"scores must be finite, >= 0 and at most {MAX_SCORE:g}",
                    record=donor_ids[k],
                    field="score",
                )
                for k in bad.tolist()
            ]
        )
    try:
        return Pool.build(patients, donors, arc_arrays=arc_arrays)
    except ValidationErrors as err:
        raise ValidationErrors([_renamed(e, fields) for e in err.errors]) from None
    except ValidationError as err:
        raise _renamed(err, fields) from None


def _renamed(err: InputError, fields: Mapping[str, str]) -> InputError:
    """`err` with its field named as the format names it."""
    if err.field is not None and err.field in fields:
        return ValidationError(
            err.message, source=err.source, record=err.record, field=fields[err.field]
        )
    return err
