"""kep_solver's JSON instance format, versions 1 and 2 (reading) and version 1 (writing).

Version 1 (also the UK NHSBT style) keys donors by id under ``"data"``::

    {"data": {"d1": {"sources": ["p1"], "bloodgroup": "O", "dage": 45,
                     "matches": [{"recipient": "p2", "score": 12.5}]},
              "n1": {"altruistic": true, "bloodgroup": "A", "matches": []}},
     "recipients": {"p1": {"cPRA": 0.85, "bloodgroup": "A"}}}

Version 2 (a top-level ``"schema"`` of 2 or more) lists donors and recipients, each with an
``"id"``, as lists or as objects keyed by id; donors carry ``"paired_recipients"``,
``"outgoing_transplants"``, ``"age"`` and ``"bloodtype"``, and recipients give ``"cPRA"`` in
percent (0 to 100). See ``docs/formats.md`` for every key.
"""

from __future__ import annotations

import json
import os

import numpy as np

from possible.domain import Pool
from possible.errors import FormatError
from possible.formats._fields import expect_id, expect_list, expect_mapping, require
from possible.formats._kep import JSON_V1, JSON_V2, build_kep_pool
from possible.formats._source import PathOrText, document, load_json, sourced, write_text

__all__ = ["read_kep_json", "write_kep_json"]


def read_kep_json(path_or_text: PathOrText) -> Pool:
    """Read a kep_solver JSON instance (version 1 or 2).

    Parameters
    ----------
    path_or_text
        A path (``.xz`` and ``.gz`` files are decompressed), or the JSON text itself (a
        string starting with ``{`` or ``[``).

    Returns
    -------
    Pool
        Donors with no (or empty) ``sources``, or with ``"altruistic": true``, are
        non-directed. A recipient named only in a donor's ``sources`` becomes a patient with
        unknown blood group and cPRA. Dynamic-simulation keys (``arrival``, ``departure``,
        ``failing_transplants``) and ``properties`` are ignored.

    Raises
    ------
    FormatError
        If the text is not JSON or a key is missing or of the wrong type, or a donor lists
        more than one patient (possible registers each donor for one patient).
    ValidationError
        If a value breaks a rule: an unknown blood group, a cPRA out of range, a negative
        score, a match to an unknown patient or a duplicated id.

    Examples
    --------
    >>> pool = read_kep_json('{"data": {"1": {"sources": [2], "matches": []}}}')
    >>> [d.patient for d in pool.donors]
    ['2']
    """
    text, source = document(path_or_text, opening=("{", "["))
    with sourced(source):
        return _pool_from_document(load_json(text))


def _pool_from_document(doc: object) -> Pool:
    """Build a pool from a parsed kep_solver JSON document (either version)."""
    top = expect_mapping(doc, record_id=None, field=None)
    schema = top.get("schema", 1)
    if isinstance(schema, bool) or not isinstance(schema, int) or schema < 1:
        raise FormatError(f"expected a schema number, got {schema!r}", field="schema")
    if schema == 1:
        return _pool_v1(top)
    return _pool_v2(top)


def _pool_v1(top: dict[str, object]) -> Pool:
    data = expect_mapping(require(top, "data", record_id=None), record_id=None, field="data")
    recipients = top.get("recipients")
    recipient_records = (
        {} if recipients is None else expect_mapping(recipients, record_id=None, field="recipients")
    )
    return build_kep_pool(data.items(), recipient_records.items(), JSON_V1)


def _pool_v2(top: dict[str, object]) -> Pool:
    donors = _records_v2(require(top, "donors", record_id=None), "donors")
    recipients = _records_v2(require(top, "recipients", record_id=None), "recipients")
    return build_kep_pool(donors, recipients, JSON_V2)


def _records_v2(raw: object, field: str) -> list[tuple[str, object]]:
    """Version 2 lists records (each with an ``"id"``) or keys them by id."""
    records: list[tuple[str, object]] = []
    if isinstance(raw, dict):
        for key, value in raw.items():
            record = expect_mapping(value, record_id=key, field=None)
            rid = expect_id(record.get("id", key), record_id=key, field="id")
            if rid != key:
                raise FormatError(f"is keyed {key!r} but has id {rid!r}", record=key, field="id")
            records.append((rid, record))
        return records
    for k, value in enumerate(expect_list(raw, record_id=None, field=field)):
        record = expect_mapping(value, record_id=f"{field}[{k}]", field=None)
        rid = expect_id(
            require(record, "id", record_id=f"{field}[{k}]"), record_id=f"{field}[{k}]", field="id"
        )
        records.append((rid, record))
    return records


def write_kep_json(pool: Pool, path: str | os.PathLike[str]) -> None:
    """Write a pool as a kep_solver JSON version 1 instance, which kep_solver can read.

    Ids are written as strings, every patient is listed under ``"recipients"`` (with
    ``"cPRA"`` as a fraction), non-directed donors carry ``"altruistic": true`` and no
    ``"sources"``, and unknown attributes are left out. One donor or recipient per line, in id
    order; ``.xz`` and ``.gz`` names are compressed. Reading the file back gives the same pool.

    Parameters
    ----------
    pool
        The pool to write.
    path
        Where to write it.
    """
    write_text(path, _kep_json_text(pool))


def _kep_json_text(pool: Pool) -> str:
    dumps = json.dumps
    patient_ids = [dumps(p.id, ensure_ascii=False) for p in pool.patients]
    ends = np.cumsum(np.bincount(pool.arcs.donor, minlength=len(pool.donors))).tolist()
    targets = pool.arcs.patient.tolist()
    scores = pool.arcs.score.tolist()
    lines = ['{"data":{']
    start = 0
    for i, donor in enumerate(pool.donors):
        fields = []
        if donor.patient is None:
            fields.append('"altruistic":true')
        else:
            fields.append(f'"sources":[{dumps(donor.patient, ensure_ascii=False)}]')
        if donor.blood_group is not None:
            fields.append(f'"bloodgroup":"{donor.blood_group.value}"')
        if donor.age is not None:
            fields.append(f'"dage":{float(donor.age)!r}')
        end = ends[i]
        matches = ",".join(
            f'{{"recipient":{patient_ids[targets[k]]},"score":{scores[k]!r}}}'
            for k in range(start, end)
        )
        start = end
        fields.append(f'"matches":[{matches}]')
        comma = "," if i + 1 < len(pool.donors) else ""
        lines.append(f"{dumps(donor.id, ensure_ascii=False)}:{{{','.join(fields)}}}{comma}")
    lines.append('},"recipients":{')
    for j, patient in enumerate(pool.patients):
        fields = []
        if patient.blood_group is not None:
            fields.append(f'"bloodgroup":"{patient.blood_group.value}"')
        if patient.cpra is not None:
            fields.append(f'"cPRA":{float(patient.cpra)!r}')
        comma = "," if j + 1 < len(pool.patients) else ""
        lines.append(f"{patient_ids[j]}:{{{','.join(fields)}}}{comma}")
    lines.append("}}")
    return "\n".join(lines) + "\n"
