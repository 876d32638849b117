"""Patients, donors, pairs and donor follow-ups: read and written by the centre caring for them.

A coordinator reads and writes only their own centre's people; an auditor reads everyone's; a
programme administrator reads no one's records (they see people only as ids inside exchanges).
Every read of a person's record and every change is an audit event.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from possible.domain import BloodGroup, check_subgroup
from possible.errors import ValidationError
from possible.registry.lifecycle import (
    break_exchange,
    move_person,
    open_exchanges_of,
    withdraw_consent,
)
from possible.registry.models import (
    Donor,
    Exchange,
    FollowUp,
    MatchRun,
    Patient,
    Revision,
    StateChange,
)
from possible.registry.runs import cpra_band
from possible.service.deps import Actor, SessionDep, audit, require
from possible.service.schemas import (
    DonorIn,
    DonorOut,
    DonorPatch,
    FollowUpIn,
    FollowUpOut,
    Page,
    PatientIn,
    PatientOut,
    PatientPatch,
    StatusIn,
)

__all__ = ["router"]

router = APIRouter()
Carer = Annotated[Actor, require("coordinator", "auditor")]
Writer = Annotated[Actor, require("coordinator")]


def _visible(actor: Actor, model: type[Patient] | type[Donor]) -> Any:
    """Select the rows of `model` this user may read."""
    query = select(model)
    if actor.role == "coordinator":
        query = query.where(model.centre_id == actor.centre_id)
    return query


def _filtered(
    actor: Actor,
    model: type[Patient] | type[Donor],
    status_: str | None,
    centre: str | None,
    blood_group: str | None,
) -> Any:
    query = _visible(actor, model)
    if status_:
        query = query.where(model.status == status_)
    if centre:
        query = query.where(model.centre_id == centre)
    if blood_group:
        query = query.where(model.blood_group == blood_group)
    return query


def _get(session: Session, actor: Actor, model: type[Any], key: str) -> Any:
    row = session.get(model, key)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no {model.__name__.lower()} {key!r}")
    if not actor.can_see_centre(row.centre_id):
        audit(session, actor, "refused", model.__name__.lower(), key)
        session.commit()  # the refusal is audited even though the request fails
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this person is cared for by another centre")
    return row


def _centre(actor: Actor, requested: str | None) -> str:
    if requested is not None and requested != actor.centre_id:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, "coordinators register their own centre's people"
        )
    assert actor.centre_id is not None
    return actor.centre_id


def _page(session: Session, query: Any, limit: int, offset: int) -> tuple[list[Any], int]:
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = list(session.scalars(query.order_by("id").limit(limit).offset(offset)))
    return rows, int(total)


def _revise(
    session: Session, row: Patient | Donor, kind: str, actor: Actor, fields: list[str]
) -> None:
    """Keep the values about to change."""
    old = {f: _plain(getattr(row, f)) for f in fields}
    session.add(
        Revision(
            subject_type=kind, subject_id=row.id, version=row.version, data=old, actor_id=actor.id
        )
    )


def _patch(
    session: Session,
    actor: Actor,
    row: Patient | Donor,
    kind: str,
    version: int,
    changes: dict[str, Any],
) -> None:
    """Apply a correction read at `version`, keeping the values it replaces."""
    _check_version(row, version)
    changes.pop("version", None)
    _revise(session, row, kind, actor, list(changes))
    for key, value in changes.items():
        setattr(row, key, value)
    row.updated_at = dt.datetime.now(dt.UTC)
    session.flush()
    audit(session, actor, "update", kind, row.id, fields=sorted(changes))


def _check_subgroup(record: str, blood_group: str | None, subgroup: str | None) -> None:
    """Refuse a subgroup of another blood group where it is typed.

    Stored, it would be refused by every matching run's snapshot, so one typo would stop the
    whole programme's runs.
    """
    check_subgroup(record, None if blood_group is None else BloodGroup(blood_group), subgroup)


def _check_declined(session: Session, record: str, declined: list[str] | None) -> None:
    """Refuse a declined donor who is not registered.

    A run's snapshot can only honour a decline of a donor it knows, so an id with a typo would
    be dropped there and the patient offered the very donor they declined.
    """
    unknown = [d for d in dict.fromkeys(declined or ()) if session.get(Donor, d) is None]
    if unknown:
        raise ValidationError(
            f"no registered donor {', '.join(map(repr, unknown))}: a patient may decline"
            " only a registered donor",
            record=record,
            field="declined_donors",
        )


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


def _check_version(row: Patient | Donor | FollowUp, version: int) -> None:
    if row.version != version:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"version {version} is out of date (now {row.version}): reload and apply again",
        )


@router.get("/patients", response_model=Page[PatientOut])
def list_patients(
    actor: Carer,
    session: SessionDep,
    status_: Annotated[str | None, Query(alias="status")] = None,
    centre: str | None = None,
    blood_group: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Page[PatientOut]:
    """List the patients this user cares for (all, for an auditor), filtered and paged."""
    query = _filtered(actor, Patient, status_, centre, blood_group)
    rows, total = _page(session, query, limit, offset)
    audit(session, actor, "list", "patient", None, ids=[r.id for r in rows])
    items = [PatientOut.model_validate(r) for r in rows]
    return Page[PatientOut](items=items, total=total, limit=limit, offset=offset)


@router.post("/patients", response_model=PatientOut, status_code=status.HTTP_201_CREATED)
def create_patient(body: PatientIn, actor: Writer, session: SessionDep) -> Patient:
    """Register a patient at the coordinator's centre (state: referral)."""
    if session.get(Patient, body.id) is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"patient {body.id!r} already exists")
    _check_subgroup(body.id, body.blood_group, body.subgroup)
    _check_declined(session, body.id, body.declined_donors)
    row = Patient(
        **body.model_dump(exclude={"centre_id"}), centre_id=_centre(actor, body.centre_id)
    )
    row.status = "referral"
    session.add(row)
    session.flush()
    audit(session, actor, "create", "patient", row.id)
    return row


@router.get("/patients/{patient_id}", response_model=PatientOut)
def read_patient(patient_id: str, actor: Carer, session: SessionDep) -> Patient:
    """Read one patient's record."""
    row = _get(session, actor, Patient, patient_id)
    audit(session, actor, "read", "patient", patient_id)
    return row  # type: ignore[no-any-return]


@router.patch("/patients/{patient_id}", response_model=PatientOut)
def update_patient(
    patient_id: str, body: PatientPatch, actor: Writer, session: SessionDep
) -> Patient:
    """Correct a patient's record; the previous values are kept."""
    row: Patient = _get(session, actor, Patient, patient_id)
    changes = body.model_dump(exclude_unset=True)
    _check_subgroup(
        row.id, changes.get("blood_group", row.blood_group), changes.get("subgroup", row.subgroup)
    )
    _check_declined(session, row.id, changes.get("declined_donors"))
    _patch(session, actor, row, "patient", body.version, changes)
    return row


@router.post("/patients/{patient_id}/status", response_model=PatientOut)
def move_patient(patient_id: str, body: StatusIn, actor: Writer, session: SessionDep) -> Patient:
    """Move a patient along their lifecycle (evaluation, active, suspended, withdrawn, ...)."""
    row: Patient = _get(session, actor, Patient, patient_id)
    if body.to == "withdrawn":
        for exchange in open_exchanges_of(session, [row.id]):
            break_exchange(session, exchange, "patient withdrawn", actor=actor.id)
    move_person(session, row, body.to, actor=actor.id, reason=body.reason)
    session.flush()
    audit(session, actor, "status", "patient", patient_id, to=body.to)
    return row


@router.get("/donors", response_model=Page[DonorOut])
def list_donors(
    actor: Carer,
    session: SessionDep,
    status_: Annotated[str | None, Query(alias="status")] = None,
    centre: str | None = None,
    blood_group: str | None = None,
    non_directed: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Page[DonorOut]:
    """List donors (paired and non-directed) this user cares for, filtered and paged."""
    query = _filtered(actor, Donor, status_, centre, blood_group)
    if non_directed is not None:
        query = query.where(
            Donor.patient_id.is_(None) if non_directed else Donor.patient_id.is_not(None)
        )
    rows, total = _page(session, query, limit, offset)
    audit(session, actor, "list", "donor", None, ids=[r.id for r in rows])
    return Page[DonorOut](
        items=[DonorOut.model_validate(r) for r in rows], total=total, limit=limit, offset=offset
    )


@router.post("/donors", response_model=DonorOut, status_code=status.HTTP_201_CREATED)
def create_donor(body: DonorIn, actor: Writer, session: SessionDep) -> Donor:
    """Register a donor: paired with one of the centre's patients, or non-directed."""
    if session.get(Donor, body.id) is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"donor {body.id!r} already exists")
    centre = _centre(actor, body.centre_id)
    if body.patient_id is not None:
        if session.get(Patient, body.patient_id) is None:
            raise ValidationError(
                f"no patient {body.patient_id!r} is registered: register the patient first",
                record=body.id,
                field="patient_id",
            )
        _get(session, actor, Patient, body.patient_id)  # and one this centre cares for
    _check_subgroup(body.id, body.blood_group, body.subgroup)
    row = Donor(**body.model_dump(exclude={"centre_id"}), centre_id=centre)
    row.status = "referral"
    session.add(row)
    session.flush()
    audit(session, actor, "create", "donor", row.id)
    return row


@router.get("/donors/{donor_id}", response_model=DonorOut)
def read_donor(donor_id: str, actor: Carer, session: SessionDep) -> Donor:
    """Read one donor's record."""
    row = _get(session, actor, Donor, donor_id)
    audit(session, actor, "read", "donor", donor_id)
    return row  # type: ignore[no-any-return]


@router.patch("/donors/{donor_id}", response_model=DonorOut)
def update_donor(donor_id: str, body: DonorPatch, actor: Writer, session: SessionDep) -> Donor:
    """Correct a donor's record; the previous values are kept."""
    row: Donor = _get(session, actor, Donor, donor_id)
    changes = body.model_dump(exclude_unset=True)
    _check_subgroup(
        row.id, changes.get("blood_group", row.blood_group), changes.get("subgroup", row.subgroup)
    )
    _patch(session, actor, row, "donor", body.version, changes)
    return row


@router.post("/donors/{donor_id}/status", response_model=DonorOut)
def move_donor(donor_id: str, body: StatusIn, actor: Writer, session: SessionDep) -> Donor:
    """Move a donor along their lifecycle. Use withdraw-consent to withdraw consent."""
    row: Donor = _get(session, actor, Donor, donor_id)
    if body.to == "withdrawn":
        raise HTTPException(status.HTTP_409_CONFLICT, "use POST /donors/{id}/withdraw-consent")
    if body.to == "active" and row.consent_given is None:
        raise HTTPException(
            status.HTTP_409_CONFLICT, "record the donor's consent before activating"
        )
    move_person(session, row, body.to, actor=actor.id, reason=body.reason)
    session.flush()
    audit(session, actor, "status", "donor", donor_id, to=body.to)
    return row


@router.post("/donors/{donor_id}/withdraw-consent", response_model=DonorOut)
def withdraw(donor_id: str, actor: Writer, session: SessionDep) -> Donor:
    """Withdraw a donor's consent, at once: every open exchange with them is broken."""
    row: Donor = _get(session, actor, Donor, donor_id)
    broken = withdraw_consent(session, row, actor=actor.id)
    session.flush()
    audit(session, actor, "withdraw_consent", "donor", donor_id, exchanges_broken=broken)
    return row


@router.get("/pairs")
def list_pairs(actor: Carer, session: SessionDep) -> list[dict[str, Any]]:
    """Each patient this user cares for, with the ids and states of their paired donors."""
    patients = list(session.scalars(_visible(actor, Patient).order_by(Patient.id)))
    audit(session, actor, "list", "pair", None, ids=[p.id for p in patients])
    return [
        {
            "patient": p.id,
            "status": p.status,
            "donors": [
                {"id": d.id, "status": d.status} for d in sorted(p.donors, key=lambda d: d.id)
            ],
        }
        for p in patients
    ]


@router.get("/follow-ups", response_model=list[FollowUpOut])
def list_follow_ups(
    actor: Carer,
    session: SessionDep,
    overdue: bool = False,
    today: dt.date | None = None,
) -> list[FollowUpOut]:
    """Donor follow-ups of this user's centre (all, for an auditor); `overdue` for the late ones."""
    day = today or dt.date.today()
    query = select(FollowUp).join(Donor, FollowUp.donor_id == Donor.id).order_by(FollowUp.due_on)
    if actor.role == "coordinator":
        query = query.where(Donor.centre_id == actor.centre_id)
    if overdue:
        query = query.where(FollowUp.done_on.is_(None), FollowUp.due_on < day)
    rows = list(session.scalars(query))
    audit(session, actor, "list", "follow_up", None, ids=[r.id for r in rows])
    out = []
    for r in rows:
        item = FollowUpOut.model_validate(r)
        item.overdue = r.done_on is None and r.due_on < day
        out.append(item)
    return out


@router.patch("/follow-ups/{follow_up_id}", response_model=FollowUpOut)
def record_follow_up(
    follow_up_id: int, body: FollowUpIn, actor: Writer, session: SessionDep
) -> FollowUp:
    """Record a follow-up visit's findings."""
    row = session.get(FollowUp, follow_up_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no follow-up {follow_up_id}")
    _get(session, actor, Donor, row.donor_id)
    _check_version(row, body.version)
    for key, value in body.model_dump(exclude={"version"}).items():
        setattr(row, key, value)
    row.recorded_by = actor.id
    session.flush()
    audit(session, actor, "update", "follow_up", str(follow_up_id), donor=row.donor_id)
    return row


@router.get("/dashboard")
def dashboard(
    actor: Annotated[Actor, require("coordinator", "auditor", "admin")],
    session: SessionDep,
    today: dt.date | None = None,
) -> dict[str, Any]:
    """Count what the signed-in user's dashboard shows: their centre's, or the programme's.

    Pool size by status, blood group and sensitisation band; for coordinators and auditors
    also the patients waiting longest and the follow-ups due or overdue.
    """
    day = today or dt.date.today()
    centre = actor.centre_id if actor.role == "coordinator" else None
    patients = (
        select(Patient) if centre is None else select(Patient).where(Patient.centre_id == centre)
    )
    donors = select(Donor) if centre is None else select(Donor).where(Donor.centre_id == centre)
    prow = list(session.scalars(patients))
    drow = list(session.scalars(donors))
    active = [p for p in prow if p.status == "active"]

    def tally(values: list[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for v in values:
            out[v] = out.get(v, 0) + 1
        return dict(sorted(out.items()))

    doc: dict[str, Any] = {
        "scope": centre or "programme",
        "patients_by_status": tally([p.status for p in prow]),
        "donors_by_status": tally([d.status for d in drow]),
        "active_by_blood_group": tally([p.blood_group for p in active]),
        "active_by_cpra_band": tally([cpra_band(p.cpra) for p in active]),
    }
    if actor.role != "admin":
        waiting = sorted((p for p in active if p.listed), key=lambda p: (p.listed, p.id))[:10]
        doc["waiting_longest"] = [
            {"id": p.id, "listed": p.listed.isoformat(), "days": (day - p.listed).days}
            for p in waiting
            if p.listed is not None
        ]
        soon = day + dt.timedelta(days=30)
        query = select(FollowUp).join(Donor, FollowUp.donor_id == Donor.id)
        if centre is not None:
            query = query.where(Donor.centre_id == centre)
        due = session.scalars(
            query.where(FollowUp.done_on.is_(None), FollowUp.due_on <= soon).order_by(
                FollowUp.due_on
            )
        )
        doc["follow_ups_due"] = [
            {
                "id": f.id,
                "donor_id": f.donor_id,
                "label": f.label,
                "due_on": f.due_on.isoformat(),
                "overdue": f.due_on < day,
            }
            for f in due
        ]
    audit(session, actor, "dashboard", None, None)
    return doc


@router.get("/people/{person_id}/timeline")
def timeline(person_id: str, actor: Carer, session: SessionDep) -> dict[str, Any]:
    """Tell a person's story: state changes, runs they were in, exchanges, follow-ups."""
    model: type[Patient] | type[Donor] = Patient if session.get(Patient, person_id) else Donor
    row = _get(session, actor, model, person_id)
    kind = "patient" if model is Patient else "donor"
    events: list[dict[str, Any]] = []
    for change in session.scalars(
        select(StateChange).where(
            StateChange.subject_type == kind, StateChange.subject_id == person_id
        )
    ):
        events.append(
            {
                "at": change.at.isoformat(),
                "what": "state",
                "from": change.from_state,
                "to": change.to_state,
                "reason": change.reason,
            }
        )
    needle = f'"id":"{person_id}"'
    for run in session.scalars(select(MatchRun).where(MatchRun.snapshot.contains(needle))):
        events.append(
            {
                "at": run.created_at.isoformat(),
                "what": "run",
                "run_id": run.id,
                "status": run.status,
            }
        )
    for exchange in session.scalars(select(Exchange).order_by(Exchange.id)):
        members = {x for t in exchange.transplants for x in (t["donor"], t["patient"])}
        if person_id in members or exchange.to_waiting_list == person_id:
            events.append(
                {
                    "at": exchange.created_at.isoformat(),
                    "what": "exchange",
                    "exchange_id": exchange.id,
                    "run_id": exchange.run_id,
                    "kind": exchange.kind,
                    "state": exchange.state,
                }
            )
    follow_ups = []
    if kind == "donor":
        for f in session.scalars(
            select(FollowUp).where(FollowUp.donor_id == person_id).order_by(FollowUp.due_on)
        ):
            follow_ups.append(
                {
                    "id": f.id,
                    "label": f.label,
                    "due_on": f.due_on.isoformat(),
                    "done_on": f.done_on and f.done_on.isoformat(),
                }
            )
    audit(session, actor, "read", kind, person_id, view="timeline")
    events.sort(key=lambda e: str(e["at"]))
    return {
        "id": row.id,
        "kind": kind,
        "status": row.status,
        "events": events,
        "follow_ups": follow_ups,
    }
