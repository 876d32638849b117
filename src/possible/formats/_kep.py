"""The record model shared by kep_solver's JSON (v1 and v2), YAML and XML formats.

All of them list donors, each with the patients it is registered for and its matches, and
(optionally) recipients with their cPRA and blood group. They differ only in the names of the
keys, which a :class:`Vocabulary` records.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from possible.domain import BloodGroup, Donor, Patient, Pool
from possible.errors import FormatError, ValidationError
from possible.formats._fields import (
    build_pool,
    describe,
    expect_bool,
    expect_id,
    expect_list,
    expect_mapping,
    expect_number,
    optional,
    parse_age,
    parse_blood_group,
    parse_fraction,
    require,
)

__all__ = ["JSON_V1", "JSON_V2", "YAML_V1", "Vocabulary", "build_kep_pool"]


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """The key names of one kep_solver format."""

    sources: str
    matches: str
    recipient: str
    donor_age: tuple[str, ...]
    donor_blood_group: tuple[str, ...]
    recipient_cpra: tuple[str, ...]
    recipient_blood_group: tuple[str, ...]
    cpra_in_percent: bool = False
    lists_required: bool = False


JSON_V1 = Vocabulary(
    sources="sources",
    matches="matches",
    recipient="recipient",
    donor_age=("dage",),
    donor_blood_group=("bloodgroup", "bloodtype"),
    recipient_cpra=("cPRA", "pra"),
    recipient_blood_group=("bloodgroup", "bloodtype"),
)
JSON_V2 = Vocabulary(
    sources="paired_recipients",
    matches="outgoing_transplants",
    recipient="recipient",
    donor_age=("age",),
    donor_blood_group=("bloodtype", "bloodgroup"),
    recipient_cpra=("cPRA",),
    recipient_blood_group=("bloodtype", "bloodgroup"),
    cpra_in_percent=True,
    lists_required=True,
)
YAML_V1 = Vocabulary(
    sources="recipients",
    matches="matches",
    recipient="recipient_id",
    donor_age=("age",),
    donor_blood_group=("bloodgroup", "bloodtype"),
    recipient_cpra=("cPRA", "pra", "cPra"),
    recipient_blood_group=("bloodgroup", "bloodtype"),
)


def build_kep_pool(
    donor_records: Iterable[tuple[str, object]],
    recipient_records: Iterable[tuple[str, object]],
    words: Vocabulary,
) -> Pool:
    """Build a pool from ``(id, record)`` pairs of donors and recipients.

    A recipient named only as a donor's source is a patient with unknown attributes. A match
    to a recipient that is neither listed nor any donor's source is an error.
    """
    patients: dict[str, Patient] = {}
    for pid, raw in recipient_records:
        if pid in patients:
            raise ValidationError("duplicate patient id", record=pid, field="id")
        patients[pid] = _patient(pid, expect_mapping(raw, record_id=pid, field=None), words)

    donors: list[Donor] = []
    arc_donors: list[str] = []
    arc_patients: list[str] = []
    arc_scores: list[float] = []
    for did, raw in donor_records:
        record = expect_mapping(raw, record_id=did, field=None)
        patient = _paired_patient(did, record, words)
        if patient is not None and patient not in patients:
            patients[patient] = Patient(patient)
        donors.append(
            Donor(
                did,
                patient,
                _blood_group(record, words.donor_blood_group, did),
                _age(record, words.donor_age, did),
            )
        )
        if words.lists_required:
            matches: object = require(record, words.matches, record_id=did)
        else:
            matches = record.get(words.matches)
            if matches is None:
                continue
        before = len(arc_patients)
        _read_matches(
            did,
            expect_list(matches, record_id=did, field=words.matches),
            words,
            arc_patients,
            arc_scores,
        )
        arc_donors.extend([did] * (len(arc_patients) - before))

    unknown = set(arc_patients).difference(patients)
    if unknown:
        k = next(k for k, pid in enumerate(arc_patients) if pid in unknown)
        raise ValidationError(
            f"match to unknown patient {arc_patients[k]!r} (neither a listed recipient nor "
            f"any donor's {words.sources!r})",
            record=arc_donors[k],
            field=words.recipient,
        )
    return build_pool(
        patients.values(),
        donors,
        (arc_donors, arc_patients, arc_scores),
        fields={"matches": words.matches},
    )


def _patient(pid: str, record: dict[str, object], words: Vocabulary) -> Patient:
    cpra = optional(record, words.recipient_cpra, record_id=pid)
    percent = words.cpra_in_percent
    return Patient(
        pid,
        _blood_group(record, words.recipient_blood_group, pid),
        None
        if cpra is None
        else parse_fraction(cpra[1], record_id=pid, field=cpra[0], percent=percent),
    )


def _blood_group(record: dict[str, object], keys: tuple[str, ...], rid: str) -> BloodGroup | None:
    found = optional(record, keys, record_id=rid)
    return None if found is None else parse_blood_group(found[1], record_id=rid, field=found[0])


def _age(record: dict[str, object], keys: tuple[str, ...], rid: str) -> float | None:
    found = optional(record, keys, record_id=rid)
    return None if found is None else parse_age(found[1], record_id=rid, field=found[0])


def _paired_patient(did: str, record: dict[str, object], words: Vocabulary) -> str | None:
    """Return the patient a donor is registered for; ``None`` for a non-directed donor."""
    if words.lists_required:
        raw_sources = require(record, words.sources, record_id=did)
    else:
        raw_sources = record.get(words.sources)
    sources = (
        [] if raw_sources is None else expect_list(raw_sources, record_id=did, field=words.sources)
    )
    altruistic = record.get("altruistic")
    if altruistic is not None:
        altruistic = expect_bool(altruistic, record_id=did, field="altruistic")
        if altruistic and sources:
            raise FormatError(
                f"an altruistic donor cannot also list {words.sources!r}",
                record=did,
                field="altruistic",
            )
        if not altruistic and not sources:
            raise FormatError(
                f"marked not altruistic but lists no {words.sources!r}",
                record=did,
                field="altruistic",
            )
    if len(sources) > 1:
        raise FormatError(
            f"lists {len(sources)} patients; possible registers each donor for exactly one",
            record=did,
            field=words.sources,
        )
    if not sources:
        return None
    return expect_id(sources[0], record_id=did, field=words.sources)


def _read_matches(
    did: str,
    matches: list[object],
    words: Vocabulary,
    arc_patients: list[str],
    arc_scores: list[float],
) -> None:
    # The hot loop of every kep reader (hundreds of thousands of matches): the common case
    # (a dict with a string recipient and a float score) is checked inline.
    key = words.recipient
    for k, match in enumerate(matches):
        if type(match) is not dict:
            raise FormatError(
                f"match {k} is {describe(match)}, expected an object",
                record=did,
                field=words.matches,
            )
        try:
            pid = match[key]
            score = match["score"]
        except KeyError as err:
            raise FormatError(
                f"match {k} has no {err.args[0]!r}", record=did, field=err.args[0]
            ) from None
        if type(pid) is not str or not pid:
            pid = expect_id(pid, record_id=did, field=key)
        if type(score) is not float:
            score = expect_number(score, record_id=did, field="score")
        arc_patients.append(pid)
        arc_scores.append(score)
