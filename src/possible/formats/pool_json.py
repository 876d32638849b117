"""possible's own pool format: JSON, one record per line, described by ``docs/pool.schema.json``.

::

    {"format":"possible.pool","version":1,
    "patients":[
    {"id":"p1","blood_group":"A","cpra":0.85}
    ],
    "donors":[
    {"id":"d1","patient":"p1","blood_group":"O","age":45.0},
    {"id":"n1","blood_group":"A"}
    ],
    "arcs":[
    {"donor":"n1","patient":"p1","score":1.0}
    ]}

A donor without ``"patient"`` (or with ``null``) is non-directed. Version 1 records may carry
further keys, which are ignored; version 2 records, which hold clinical data, may not, so that
a misspelt field (``"unacceptable_antigens"``) is an error rather than silently missing. The
top level may carry no other key in either version.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
from collections.abc import Callable
from typing import Any, TypeVar

from possible.domain import Donor, DonorStatus, Patient, PatientStatus, Pool, age_on
from possible.errors import FormatError, InputError, ValidationError, ValidationErrors
from possible.formats._fields import (
    build_pool,
    describe,
    expect_id,
    expect_list,
    expect_mapping,
    expect_number,
    optional_value,
    parse_age,
    parse_blood_group,
    parse_day,
    parse_fraction,
    require,
)
from possible.formats._source import PathOrText, document, load_json, sourced, write_text
from possible.hla.typing import read_names

T = TypeVar("T")

__all__ = ["FORMAT", "VERSION", "pool_json_text", "read_pool_json", "write_pool_json"]

FORMAT = "possible.pool"
"""The value of the top-level ``"format"`` key."""

VERSION = 2
"""The newest version of the format; this module reads versions 1 and 2."""

_TOP_LEVEL = frozenset({"format", "version", "as_of", "patients", "donors", "arcs"})


def read_pool_json(path_or_text: PathOrText, *, as_of: dt.date | None = None) -> Pool:
    """Read a pool written by :func:`write_pool_json` (or by hand, to the same schema).

    Parameters
    ----------
    path_or_text
        A path (``.xz`` and ``.gz`` files are decompressed), or the JSON text itself (a
        string starting with ``{`` or ``[``).
    as_of
        The date of the matching run, in place of the file's ``"as_of"`` (version 2): dates
        of birth give ages at it, and the pool keeps it.

    Raises
    ------
    FormatError
        If the text is not JSON, is another format or version, has an unknown top-level key,
        or a record lacks a required key or has one of the wrong type.
    ValidationError
        If a value breaks a rule: an unknown blood group, a cPRA outside [0, 1], a negative
        score, an unknown or duplicated id.

    Examples
    --------
    >>> text = '''{"format": "possible.pool", "version": 1,
    ...   "patients": [{"id": "p1"}], "donors": [{"id": "d1", "patient": "p1"}], "arcs": []}'''
    >>> read_pool_json(text).donors[0].patient
    'p1'
    """
    text, source = document(path_or_text, opening=("{", "["))
    with sourced(source):
        return _pool_from_document(load_json(text), as_of)


def _pool_from_document(doc: object, run_date: dt.date | None = None) -> Pool:
    top = expect_mapping(doc, record_id=None, field=None)
    kind = require(top, "format", record_id=None)
    if kind != FORMAT:
        raise FormatError(f"expected {FORMAT!r}, got {describe(kind)}", field="format")
    version = require(top, "version", record_id=None)
    if version not in (1, 2) or isinstance(version, bool):
        raise FormatError(
            f"unsupported version {describe(version)} (this release reads 1 and {VERSION})",
            field="version",
        )
    for key in top:
        if key not in _TOP_LEVEL or (version == 1 and key == "as_of"):
            raise FormatError("unknown top-level key", field=key)
    file_date = optional_value(top, "as_of", _date, record_id=None)
    as_of = (run_date if version == 2 else None) or file_date
    raw_patients = expect_list(
        require(top, "patients", record_id=None), record_id=None, field="patients"
    )
    raw_donors = expect_list(require(top, "donors", record_id=None), record_id=None, field="donors")
    # Every record is checked, and then every reference between records, before any error
    # is raised, so a file's problems are all reported at once. A record with a bad field
    # stands in the cross-check by its id alone, so that nothing naming it looks unknown.
    errors: list[InputError] = []
    clinical = version == 2
    # Ages from dates of birth are checked against a recorded age only at the file's own
    # run date: at another (`run_date`), a recorded age is simply out of date.
    own_date = run_date is None
    patients = [
        _collect(errors, _patient, _stand_in_patient, k, raw, clinical, as_of, own_date)
        for k, raw in enumerate(raw_patients)
    ]
    donors = [
        _collect(errors, _donor, _stand_in_donor, k, raw, clinical, as_of, own_date)
        for k, raw in enumerate(raw_donors)
    ]
    people = ([p for p in patients if p is not None], [d for d in donors if d is not None])
    if version == 2 and "arcs" not in top:
        return _checked(errors, lambda: Pool.build(*people, clinical_arcs=True, as_of=as_of))
    arcs = expect_list(require(top, "arcs", record_id=None), record_id=None, field="arcs")
    arc_donors: list[str] = []
    arc_patients: list[str] = []
    arc_scores: list[float] = []
    for k, raw in enumerate(arcs):
        # The hot loop: one arc object per iteration, the common case checked inline.
        if type(raw) is not dict:
            errors.append(
                FormatError(f"arc {k} is {describe(raw)}, expected an object", field="arcs")
            )
            continue
        did = raw.get("donor")
        pid = raw.get("patient")
        score = raw.get("score")
        if (
            type(did) is not str
            or type(pid) is not str
            or type(score) is not float
            or not did
            or (clinical and len(raw) != len(_ARC_KEYS))
        ):
            checked = _collect(errors, _arc, lambda _raw: None, k, raw, clinical)
            if checked is None:
                continue
            did, pid, score = checked
        arc_donors.append(did)
        arc_patients.append(pid)
        arc_scores.append(score)
    pool = _checked(
        errors,
        lambda: build_pool(
            *people, (arc_donors, arc_patients, arc_scores), fields={"matches": "patient"}
        ),
    )
    if clinical:
        _check_given_arcs(pool)
    return dataclasses.replace(pool, as_of=as_of) if as_of is not None else pool


def _attempt(
    errors: list[InputError], read: Callable[..., T], *args: Any, **kwargs: Any
) -> T | None:
    """Return ``read(*args, **kwargs)``; on bad input, keep its errors and return ``None``."""
    try:
        return read(*args, **kwargs)
    except ValidationErrors as err:
        errors.extend(err.errors)
    except InputError as err:
        errors.append(err)
    return None


def _checked(errors: list[InputError], build: Callable[[], Pool]) -> Pool:
    """Build the pool, then raise every error found in the records and in it together."""
    pool = _attempt(errors, build)
    if pool is None or errors:
        raise ValidationErrors(errors)
    return pool


def _collect(
    errors: list[InputError],
    make: Callable[..., T],
    stand_in: Callable[[object], T | None],
    *args: Any,
) -> T | None:
    """Call ``make(*args)``; on bad input, keep the error and return ``stand_in(raw)``."""
    made = _attempt(errors, make, *args)
    return stand_in(args[1]) if made is None else made


def _usable_id(raw: object, key: str) -> str | None:
    value = raw.get(key) if isinstance(raw, dict) else None
    return value if isinstance(value, str) and value else None


def _stand_in_patient(raw: object) -> Patient | None:
    pid = _usable_id(raw, "id")
    if pid is None:
        return None
    # Its declined donors that are well-formed still take part in the cross-check, so that
    # an unknown one is reported in the same pass as the record's bad fields.
    listed = raw.get("declined_donors") if isinstance(raw, dict) else None
    declined = (
        tuple(v for v in listed if isinstance(v, str) and v) if isinstance(listed, list) else ()
    )
    return Patient(pid, declined_donors=declined)


def _stand_in_donor(raw: object) -> Donor | None:
    did = _usable_id(raw, "id")
    return Donor(did, _usable_id(raw, "patient")) if did is not None else None


class _Fields:
    """Read one record's fields, keeping every bad one instead of stopping at the first."""

    def __init__(self, record: dict[str, object], record_id: str) -> None:
        self.record = record
        self.record_id = record_id
        self.errors: list[InputError] = []

    def get(self, key: str, parse: Callable[..., T]) -> T | None:
        """``record[key]`` read by `parse`, ``None`` if absent or bad."""
        return self.call(optional_value, self.record, key, parse, record_id=self.record_id)

    def call(self, read: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        """``read(*args, **kwargs)``, ``None`` if it finds bad input."""
        return _attempt(self.errors, read, *args, **kwargs)

    def check(self) -> None:
        """Raise every bad field found so far."""
        if self.errors:
            raise ValidationErrors(self.errors)


def _known_keys(record: dict[str, object], allowed: frozenset[str], record_id: str) -> None:
    """Refuse a version 2 record's unknown keys: a misspelt "unacceptable" must not vanish."""
    errors: list[InputError] = [
        FormatError(
            f"unknown key (expected one of {', '.join(sorted(allowed))})",
            record=record_id,
            field=key,
        )
        for key in record
        if key not in allowed
    ]
    if errors:
        raise ValidationErrors(errors)


def _patient(
    k: int, raw: object, clinical: bool, as_of: dt.date | None, checked: bool = True
) -> Patient:
    name = f"patients[{k}]"
    record = expect_mapping(raw, record_id=name, field=None)
    pid = _text_id(require(record, "id", record_id=name), record_id=name, field="id")
    f = _Fields(record, pid)
    if clinical:
        f.call(_known_keys, record, _PATIENT_KEYS, pid)
    group = f.get("blood_group", parse_blood_group)
    cpra = f.get("cpra", parse_fraction)
    if not clinical:
        f.check()
        return Patient(pid, group, cpra)
    declined = f.call(
        expect_list, record.get("declined_donors", []), record_id=pid, field="declined_donors"
    )
    # The record's own checks (a subgroup against its group, plausible limits) join the
    # field errors found so far, rather than hiding them.
    patient = f.call(
        Patient,
        pid,
        group,
        cpra,
        centre=f.get("centre", _text_id),
        subgroup=f.get("subgroup", _text),
        hla=f.call(_names, record, "hla", pid) or (),
        unacceptable=f.call(_names, record, "unacceptable", pid) or (),
        age=f.call(_age, record, pid, as_of, born := f.get("date_of_birth", _date), checked),
        listed=f.get("listed", _date),
        dialysis_start=f.get("dialysis_start", _date),
        status=f.call(_status, record, pid, PatientStatus) or PatientStatus.ACTIVE,
        previous_transplants=int(f.get("previous_transplants", _count) or 0),
        anti_a_titre=f.get("anti_a_titre", _count),
        declined_donors=tuple(
            v
            for v in (
                f.call(_text_id, v, record_id=pid, field="declined_donors") for v in declined or []
            )
            if v is not None
        ),
        max_donor_age=f.get("max_donor_age", parse_age),
        date_of_birth=born,
        matching_runs=f.get("matching_runs", _count),
    )
    f.check()
    assert patient is not None  # no error was kept, so the record was built
    return patient


def _donor(
    k: int, raw: object, clinical: bool, as_of: dt.date | None, checked: bool = True
) -> Donor:
    name = f"donors[{k}]"
    record = expect_mapping(raw, record_id=name, field=None)
    did = _text_id(require(record, "id", record_id=name), record_id=name, field="id")
    f = _Fields(record, did)
    if clinical:
        f.call(_known_keys, record, _DONOR_KEYS, did)
    patient = f.get("patient", _text_id)
    group = f.get("blood_group", parse_blood_group)
    if not clinical:
        plain = f.call(Donor, did, patient, group, f.get("age", parse_age))
        f.check()
        assert plain is not None  # no error was kept, so the record was built
        return plain
    donor = f.call(
        Donor,
        did,
        patient,
        group,
        f.call(_age, record, did, as_of, born := f.get("date_of_birth", _date), checked),
        centre=f.get("centre", _text_id),
        subgroup=f.get("subgroup", _text),
        hla=f.call(_names, record, "hla", did) or (),
        status=f.call(_status, record, did, DonorStatus) or DonorStatus.ACTIVE,
        consent=f.get("consent", _date),
        date_of_birth=born,
    )
    f.check()
    assert donor is not None  # no error was kept, so the record was built
    return donor


def _check_given_arcs(pool: Pool) -> None:
    """Refuse arcs of a version 2 file that its own clinical records rule out.

    Given arcs may come from elsewhere (a lab's crossmatch, another programme's run), but one
    that crosses a recorded blood group, an unacceptable antigen or a centre's exclusion is a
    contradiction, not a choice: every such arc is reported at once
    (:func:`possible.compatibility.build.given_arc_conflicts`). Arcs of donors or patients who
    may not be selected (withdrawn, suspended, no consent) are not errors: the compatibility
    graph leaves them out (:mod:`possible.graph`).
    """
    clinical = any(p.clinical for p in pool.patients) or any(d.clinical for d in pool.donors)
    if not pool.arcs.donor.size or not clinical:
        return
    from possible.compatibility.build import given_arc_conflicts

    errors: list[InputError] = [
        ValidationError(
            f"arc to {pool.patients[int(pool.arcs.patient[k])].id!r} contradicts the clinical "
            f"records: {why}",
            record=pool.donors[int(pool.arcs.donor[k])].id,
            field="arcs",
        )
        for k, why in given_arc_conflicts(pool)
    ]
    if errors:
        raise ValidationErrors(errors)


def _names(record: dict[str, object], key: str, record_id: str) -> tuple[str, ...]:
    # Absent means none; anything else must be a list (null, "" or 0 are not "none").
    values = expect_list(record.get(key, []), record_id=record_id, field=key)
    for k, v in enumerate(values):
        if not isinstance(v, str):
            raise FormatError(
                f"expected an HLA name, got {describe(v)}", record=record_id, field=f"{key}[{k}]"
            )
    names = tuple(str(v) for v in values)
    read_names(names, record=record_id, field=key, typing=key == "hla")
    return names


def _text(value: object, *, record_id: str | None, field: str) -> str:
    if not isinstance(value, str):
        raise FormatError(
            f"expected a string, got {describe(value)}", record=record_id, field=field
        )
    return value


def _date(value: object, *, record_id: str | None, field: str) -> dt.date:
    text = _text(value, record_id=record_id, field=field)
    try:
        return parse_day(text)
    except ValueError:
        raise ValidationError(
            f"{text!r} is not a date (expected YYYY-MM-DD)", record=record_id, field=field
        ) from None


def _count(value: object, *, record_id: str | None, field: str) -> int:
    # JSON Schema counts 1.0 as an integer, so the reader does too.
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValidationError(
            f"expected a whole number >= 0, got {describe(value)}", record=record_id, field=field
        )
    return value


def _age(
    record: dict[str, object],
    record_id: str,
    as_of: dt.date | None,
    born: dt.date | None,
    checked: bool,
) -> float | None:
    """Return the age: from the date of birth at the run date if both are known, else as given."""
    age = optional_value(record, "age", parse_age, record_id=record_id)
    if born is None:
        return age
    if as_of is None:
        if age is not None:
            return age  # written without a run date: the recorded age stands
        raise ValidationError(
            "a date of birth needs the run date to give an age: the pool's 'as_of' "
            "(or possible solve --as-of)",
            record=record_id,
            field="date_of_birth",
        )
    years = age_on(born, as_of) if born <= as_of else (as_of - born).days / 365.25
    if age is not None and checked and abs(age - years) >= 1.0:
        raise ValidationError(
            f"age {age:g} disagrees with the date of birth", record=record_id, field="age"
        )
    return parse_age(round(years, 2), record_id=record_id, field="date_of_birth")


E = TypeVar("E", PatientStatus, DonorStatus)


def _status(record: dict[str, object], record_id: str, kind: type[E]) -> E:
    if "status" not in record:
        return kind("active")
    value = record["status"]
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        raise ValidationError(
            f"unknown status {value!r} (expected one of {allowed})"
            if isinstance(value, str)
            else f"expected a status ({allowed}), got {describe(value)}",
            record=record_id,
            field="status",
        ) from None


def _text_id(value: object, *, record_id: str | None, field: str | None) -> str:
    """Our own format's ids are strings: no integers, unlike kep_solver's."""
    return expect_id(value, record_id=record_id, field=field, allow_int=False)


def _arc(k: int, record: dict[str, object], clinical: bool) -> tuple[str, str, float]:
    """Check an arc record that is not the plain common case, key by key."""
    name = f"arcs[{k}]"
    if clinical:
        _known_keys(record, _ARC_KEYS, name)
    did = _text_id(require(record, "donor", record_id=name), record_id=name, field="donor")
    pid = _text_id(require(record, "patient", record_id=did), record_id=did, field="patient")
    score = expect_number(require(record, "score", record_id=did), record_id=did, field="score")
    return did, pid, score


def write_pool_json(
    pool: Pool, path: str | os.PathLike[str], *, as_of: dt.date | None = None
) -> None:
    """Write a pool in possible's own JSON format.

    The output is deterministic: records in id order (arcs by donor, then patient), keys in a
    fixed order, one record per line, UTF-8; a ``.xz`` or ``.gz`` name is compressed.
    :func:`read_pool_json` reads it back to an equal pool. A pool without clinical fields is
    written as version 1; one with them as version 2, whose arcs are left out when they are
    to be derived from the clinical data (:attr:`Pool.clinical_arcs`).

    Parameters
    ----------
    pool
        The pool to write.
    path
        Where to write it.
    as_of
        The date of the matching run the pool is for, written as ``"as_of"`` (version 2).
    """
    write_text(path, pool_json_text(pool, as_of=as_of))


def pool_json_text(pool: Pool, *, as_of: dt.date | None = None) -> str:
    """Return the text :func:`write_pool_json` writes (to keep a pool in a database, say)."""
    return _pool_json_text(pool, as_of)


def _pool_json_text(pool: Pool, as_of: dt.date | None = None) -> str:
    as_of = as_of or pool.as_of

    def dumps(value: object) -> str:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

    clinical = (
        as_of is not None
        or pool.clinical_arcs
        or any(p.clinical for p in pool.patients)
        or any(d.clinical or d.date_of_birth is not None for d in pool.donors)
    )
    version = VERSION if clinical else 1
    patient_ids = [dumps(p.id) for p in pool.patients]
    donor_ids = [dumps(d.id) for d in pool.donors]
    patients = []
    for j, patient in enumerate(pool.patients):
        fields = [f'"id":{patient_ids[j]}']
        if patient.blood_group is not None:
            fields.append(f'"blood_group":"{patient.blood_group.value}"')
        if patient.cpra is not None:
            fields.append(f'"cpra":{float(patient.cpra)!r}')
        if clinical:
            fields.extend(_clinical_fields(patient, _PATIENT_CLINICAL, dumps, as_of is not None))
        patients.append("{" + ",".join(fields) + "}")
    donors = []
    for i, donor in enumerate(pool.donors):
        fields = [f'"id":{donor_ids[i]}']
        if donor.patient is not None:
            fields.append(f'"patient":{dumps(donor.patient)}')
        if donor.blood_group is not None:
            fields.append(f'"blood_group":"{donor.blood_group.value}"')
        if donor.age is not None and (donor.date_of_birth is None or as_of is None):
            fields.append(f'"age":{float(donor.age)!r}')
        if clinical:
            fields.extend(_clinical_fields(donor, _DONOR_CLINICAL, dumps, as_of is not None))
        donors.append("{" + ",".join(fields) + "}")
    sep = ",\n"
    head = f'{{"format":"{FORMAT}","version":{version},\n'
    if as_of is not None:
        head += f'"as_of":"{as_of.isoformat()}",\n'
    body = f'"patients":[\n{sep.join(patients)}\n],\n"donors":[\n{sep.join(donors)}\n]'
    if pool.clinical_arcs:
        return head + body + "}\n"
    arcs = [
        f'{{"donor":{donor_ids[i]},"patient":{patient_ids[j]},"score":{score!r}}}'
        for i, j, score in zip(
            pool.arcs.donor.tolist(),
            pool.arcs.patient.tolist(),
            pool.arcs.score.tolist(),
            strict=True,
        )
    ]
    return head + body + f',\n"arcs":[\n{sep.join(arcs)}\n]}}\n'


# Clinical fields in the order they are written, after the version 1 fields.
_PATIENT_CLINICAL = (
    "centre",
    "subgroup",
    "hla",
    "unacceptable",
    "age",
    "listed",
    "dialysis_start",
    "status",
    "previous_transplants",
    "anti_a_titre",
    "declined_donors",
    "max_donor_age",
    "date_of_birth",
    "matching_runs",
)
_DONOR_CLINICAL = ("centre", "subgroup", "hla", "status", "consent", "date_of_birth")
# Every key a version 2 record may have (version 1 records may carry others, ignored).
_PATIENT_KEYS = frozenset(("id", "blood_group", "cpra", "date_of_birth", *_PATIENT_CLINICAL))
_DONOR_KEYS = frozenset(("id", "patient", "blood_group", "age", "date_of_birth", *_DONOR_CLINICAL))
_ARC_KEYS = frozenset(("donor", "patient", "score"))


def _clinical_fields(
    record: Patient | Donor,
    names: tuple[str, ...],
    dumps: Callable[[object], str],
    dated: bool,
) -> list[str]:
    """Encode the clinical fields of a record that are set as JSON members."""
    out = []
    for name in names:
        value = getattr(record, name)
        if value is None or value == () or (name == "previous_transplants" and value == 0):
            continue
        if name == "age" and record.date_of_birth is not None and dated:
            continue  # the age is worked out from the date of birth at each read
        if isinstance(value, PatientStatus | DonorStatus):
            if value.value == "active":
                continue
            value = value.value
        elif isinstance(value, dt.date):
            value = value.isoformat()
        elif isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, float):
            out.append(f'"{name}":{value!r}')
            continue
        out.append(f'"{name}":{dumps(value)}')
    return out
