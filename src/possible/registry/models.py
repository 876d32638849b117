"""The registry's tables, as typed SQLAlchemy 2 models.

Nothing is ever deleted: a person who leaves is *withdrawn*, a correction is a new version whose
previous values are kept in :class:`Revision`, and every change of state is a
:class:`StateChange` with who, when and why. :class:`AuditEvent` rows are append-only (the ORM
refuses to update or delete them).

People carry only opaque ids and clinical data, never names or contact details: those stay in
the centres' own records.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    event,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = [
    "AuditEvent",
    "Base",
    "Centre",
    "CpraPanel",
    "Donor",
    "Exchange",
    "ExchangeAcceptance",
    "FollowUp",
    "MatchRun",
    "Patient",
    "Revision",
    "StateChange",
    "User",
]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    """Base class of the registry's models."""

    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


class Centre(Base):
    """A transplant centre."""

    __tablename__ = "centres"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)


class User(Base):
    """Someone who signs in: a programme administrator, a centre coordinator or an auditor."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    centre_id: Mapped[str | None] = mapped_column(ForeignKey("centres.id"))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)


class Patient(Base):
    """A patient registered by a centre (fields as in possible's pool JSON, version 2)."""

    __tablename__ = "patients"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    centre_id: Mapped[str] = mapped_column(ForeignKey("centres.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), index=True, default="referral")
    blood_group: Mapped[str] = mapped_column(String(2), index=True)
    subgroup: Mapped[str | None] = mapped_column(String(3))
    hla: Mapped[list[Any]] = mapped_column(default=list)
    unacceptable: Mapped[list[Any]] = mapped_column(default=list)
    cpra: Mapped[float | None] = mapped_column(Float)
    date_of_birth: Mapped[dt.date | None] = mapped_column(Date)
    listed: Mapped[dt.date | None] = mapped_column(Date)
    dialysis_start: Mapped[dt.date | None] = mapped_column(Date)
    previous_transplants: Mapped[int] = mapped_column(default=0)
    anti_a_titre: Mapped[int | None] = mapped_column(Integer)
    max_donor_age: Mapped[float | None] = mapped_column(Float)
    declined_donors: Mapped[list[Any]] = mapped_column(default=list)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)

    donors: Mapped[list[Donor]] = relationship(back_populates="patient")

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy reads it


class Donor(Base):
    """A donor: paired with a patient, or non-directed (no patient)."""

    __tablename__ = "donors"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    centre_id: Mapped[str] = mapped_column(ForeignKey("centres.id"), index=True)
    patient_id: Mapped[str | None] = mapped_column(ForeignKey("patients.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), index=True, default="referral")
    blood_group: Mapped[str] = mapped_column(String(2), index=True)
    subgroup: Mapped[str | None] = mapped_column(String(3))
    hla: Mapped[list[Any]] = mapped_column(default=list)
    date_of_birth: Mapped[dt.date | None] = mapped_column(Date)
    consent_given: Mapped[dt.date | None] = mapped_column(Date)
    consent_withdrawn_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    donated_on: Mapped[dt.date | None] = mapped_column(Date)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)

    patient: Mapped[Patient | None] = relationship(back_populates="donors")

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy reads it


class Revision(Base):
    """The values a record had before a change (one row per change)."""

    __tablename__ = "revisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_type: Mapped[str] = mapped_column(String(20))
    subject_id: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[int] = mapped_column(Integer)
    data: Mapped[dict[str, Any]] = mapped_column()
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)


class StateChange(Base):
    """A change of state of a person or an exchange: from, to, who, when and why."""

    __tablename__ = "state_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_type: Mapped[str] = mapped_column(String(20))
    subject_id: Mapped[str] = mapped_column(String(64), index=True)
    from_state: Mapped[str | None] = mapped_column(String(30))
    to_state: Mapped[str] = mapped_column(String(30))
    reason: Mapped[str | None] = mapped_column(Text)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)


class CpraPanel(Base):
    """A programme's own reference panel for computing cPRA, kept as uploaded.

    Panels are never changed or deleted: a run names the panel it used by its digest, so it can
    always be run again on the same panel. The donors are a reference population's HLA typings
    (and blood groups), not people in the programme.
    """

    __tablename__ = "cpra_panels"

    digest: Mapped[str] = mapped_column(String(16), primary_key=True)
    source: Mapped[str] = mapped_column(Text)
    donors: Mapped[int] = mapped_column(Integer)
    document: Mapped[dict[str, Any]] = mapped_column()
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)


class MatchRun(Base):
    """One matching run: its policy, the snapshot it ran on, and its result."""

    __tablename__ = "match_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(20), default="queued")
    progress: Mapped[str] = mapped_column(Text, default="")
    policy: Mapped[dict[str, Any]] = mapped_column()
    snapshot: Mapped[str] = mapped_column(Text)
    snapshot_digest: Mapped[str] = mapped_column(String(64))
    rerun_of: Mapped[int | None] = mapped_column(ForeignKey("match_runs.id"))
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    result_digest: Mapped[str | None] = mapped_column(String(64))
    solver: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    timings: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class Exchange(Base):
    """A proposed cycle or chain, carried through acceptance, crossmatch and surgery."""

    __tablename__ = "exchanges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("match_runs.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    state: Mapped[str] = mapped_column(String(30), default="proposed", index=True)
    transplants: Mapped[list[Any]] = mapped_column()
    to_waiting_list: Mapped[str | None] = mapped_column(String(64))
    centres: Mapped[list[Any]] = mapped_column()
    broken_reason: Mapped[str | None] = mapped_column(Text)
    scheduled_on: Mapped[dt.date | None] = mapped_column(Date)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy reads it


class ExchangeAcceptance(Base):
    """A centre's acceptance of a proposed exchange."""

    __tablename__ = "exchange_acceptances"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    exchange_id: Mapped[int] = mapped_column(ForeignKey("exchanges.id"), index=True)
    centre_id: Mapped[str] = mapped_column(ForeignKey("centres.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)


class FollowUp(Base):
    """A donor's follow-up visit after donation (6 months, 1 year, 2 years)."""

    __tablename__ = "follow_ups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    donor_id: Mapped[str] = mapped_column(ForeignKey("donors.id"), index=True)
    label: Mapped[str] = mapped_column(String(20))
    due_on: Mapped[dt.date] = mapped_column(Date, index=True)
    done_on: Mapped[dt.date | None] = mapped_column(Date)
    egfr: Mapped[float | None] = mapped_column(Float)
    creatinine: Mapped[float | None] = mapped_column(Float)
    systolic: Mapped[int | None] = mapped_column(Integer)
    diastolic: Mapped[int | None] = mapped_column(Integer)
    complications: Mapped[str | None] = mapped_column(Text)
    recorded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy reads it


class AuditEvent(Base):
    """Who did or read what, when and from where. Append-only."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=_now, server_default=func.now(), index=True
    )
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor: Mapped[str | None] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(40), index=True)
    subject_type: Mapped[str | None] = mapped_column(String(20))
    subject_id: Mapped[str | None] = mapped_column(String(64), index=True)
    source: Mapped[str | None] = mapped_column(String(100))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


@event.listens_for(AuditEvent, "before_update")
@event.listens_for(AuditEvent, "before_delete")
def _append_only(*_: object) -> None:
    raise PermissionError("the audit trail is append-only")
