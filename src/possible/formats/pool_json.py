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

A donor without ``"patient"`` (or with ``null``) is non-directed; unknown attributes are left
out. Patient, donor and arc records may carry further keys, which this version ignores (later
versions add clinical fields); the top level may not.
"""

from __future__ import annotations

import json
import os

from possible.domain import Donor, Patient, Pool
from possible.errors import FormatError
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
    parse_fraction,
    require,
)
from possible.formats._source import PathOrText, document, load_json, sourced, write_text

__all__ = ["FORMAT", "VERSION", "read_pool_json", "write_pool_json"]

FORMAT = "possible.pool"
"""The value of the top-level ``"format"`` key."""

VERSION = 1
"""The version of the format this module reads and writes."""

_TOP_LEVEL = frozenset({"format", "version", "patients", "donors", "arcs"})


def read_pool_json(path_or_text: PathOrText) -> Pool:
    """Read a pool written by :func:`write_pool_json` (or by hand, to the same schema).

    Parameters
    ----------
    path_or_text
        A path (``.xz`` and ``.gz`` files are decompressed), or the JSON text itself (a
        string starting with ``{`` or ``[``).

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
        return _pool_from_document(load_json(text))


def _pool_from_document(doc: object) -> Pool:
    top = expect_mapping(doc, record_id=None, field=None)
    kind = require(top, "format", record_id=None)
    if kind != FORMAT:
        raise FormatError(f"expected {FORMAT!r}, got {describe(kind)}", field="format")
    version = require(top, "version", record_id=None)
    if version != VERSION or isinstance(version, bool):
        raise FormatError(
            f"unsupported version {describe(version)} (this release reads {VERSION})",
            field="version",
        )
    for key in top:
        if key not in _TOP_LEVEL:
            raise FormatError("unknown top-level key", field=key)
    patients = [
        _patient(k, raw)
        for k, raw in enumerate(
            expect_list(require(top, "patients", record_id=None), record_id=None, field="patients")
        )
    ]
    donors = [
        _donor(k, raw)
        for k, raw in enumerate(
            expect_list(require(top, "donors", record_id=None), record_id=None, field="donors")
        )
    ]
    arcs = expect_list(require(top, "arcs", record_id=None), record_id=None, field="arcs")
    arc_donors: list[str] = []
    arc_patients: list[str] = []
    arc_scores: list[float] = []
    for k, raw in enumerate(arcs):
        # The hot loop: one arc object per iteration, the common case checked inline.
        if type(raw) is not dict:
            raise FormatError(f"arc {k} is {describe(raw)}, expected an object", field="arcs")
        did = raw.get("donor")
        pid = raw.get("patient")
        score = raw.get("score")
        if type(did) is not str or type(pid) is not str or type(score) is not float or not did:
            did, pid, score = _arc(k, raw)
        arc_donors.append(did)
        arc_patients.append(pid)
        arc_scores.append(score)
    return build_pool(
        patients, donors, (arc_donors, arc_patients, arc_scores), fields={"matches": "patient"}
    )


def _patient(k: int, raw: object) -> Patient:
    name = f"patients[{k}]"
    record = expect_mapping(raw, record_id=name, field=None)
    pid = _text_id(require(record, "id", record_id=name), record_id=name, field="id")
    return Patient(
        pid,
        optional_value(record, "blood_group", parse_blood_group, record_id=pid),
        optional_value(record, "cpra", parse_fraction, record_id=pid),
    )


def _donor(k: int, raw: object) -> Donor:
    name = f"donors[{k}]"
    record = expect_mapping(raw, record_id=name, field=None)
    did = _text_id(require(record, "id", record_id=name), record_id=name, field="id")
    return Donor(
        did,
        optional_value(record, "patient", _text_id, record_id=did),
        optional_value(record, "blood_group", parse_blood_group, record_id=did),
        optional_value(record, "age", parse_age, record_id=did),
    )


def _text_id(value: object, *, record_id: str | None, field: str | None) -> str:
    """Our own format's ids are strings: no integers, unlike kep_solver's."""
    return expect_id(value, record_id=record_id, field=field, allow_int=False)


def _arc(k: int, record: dict[str, object]) -> tuple[str, str, float]:
    """Check an arc record that is not the plain common case, key by key."""
    name = f"arcs[{k}]"
    did = _text_id(require(record, "donor", record_id=name), record_id=name, field="donor")
    pid = _text_id(require(record, "patient", record_id=did), record_id=did, field="patient")
    score = expect_number(require(record, "score", record_id=did), record_id=did, field="score")
    return did, pid, score


def write_pool_json(pool: Pool, path: str | os.PathLike[str]) -> None:
    """Write a pool in possible's own JSON format.

    The output is deterministic: records in id order (arcs by donor, then patient), keys in a
    fixed order, one record per line, UTF-8; a ``.xz`` or ``.gz`` name is compressed.
    :func:`read_pool_json` reads it back to an equal pool.

    Parameters
    ----------
    pool
        The pool to write.
    path
        Where to write it.
    """
    write_text(path, _pool_json_text(pool))


def _pool_json_text(pool: Pool) -> str:
    def dumps(value: str) -> str:
        return json.dumps(value, ensure_ascii=False)

    patient_ids = [dumps(p.id) for p in pool.patients]
    donor_ids = [dumps(d.id) for d in pool.donors]
    patients = []
    for j, patient in enumerate(pool.patients):
        fields = [f'"id":{patient_ids[j]}']
        if patient.blood_group is not None:
            fields.append(f'"blood_group":"{patient.blood_group.value}"')
        if patient.cpra is not None:
            fields.append(f'"cpra":{float(patient.cpra)!r}')
        patients.append("{" + ",".join(fields) + "}")
    donors = []
    for i, donor in enumerate(pool.donors):
        fields = [f'"id":{donor_ids[i]}']
        if donor.patient is not None:
            fields.append(f'"patient":{dumps(donor.patient)}')
        if donor.blood_group is not None:
            fields.append(f'"blood_group":"{donor.blood_group.value}"')
        if donor.age is not None:
            fields.append(f'"age":{float(donor.age)!r}')
        donors.append("{" + ",".join(fields) + "}")
    arcs = [
        f'{{"donor":{donor_ids[i]},"patient":{patient_ids[j]},"score":{score!r}}}'
        for i, j, score in zip(
            pool.arcs.donor.tolist(),
            pool.arcs.patient.tolist(),
            pool.arcs.score.tolist(),
            strict=True,
        )
    ]
    sep = ",\n"
    return (
        f'{{"format":"{FORMAT}","version":{VERSION},\n'
        f'"patients":[\n{sep.join(patients)}\n],\n'
        f'"donors":[\n{sep.join(donors)}\n],\n'
        f'"arcs":[\n{sep.join(arcs)}\n]}}\n'
    )
