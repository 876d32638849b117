"""Request and response bodies of the REST API (pydantic), kept apart from the tables."""

from __future__ import annotations

import datetime as dt
from typing import Any, Generic, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from possible.compatibility.scoring import ScoringPolicy
from possible.domain import MAX_AGE, age_on
from possible.errors import PolicyError, ValidationError, ValidationErrors
from possible.hla.typing import read_names

__all__ = [
    "Centre",
    "CrossmatchIn",
    "DonorIn",
    "DonorOut",
    "DonorPatch",
    "ExchangeOut",
    "FollowUpIn",
    "FollowUpOut",
    "Page",
    "PanelOut",
    "PatientIn",
    "PatientOut",
    "PatientPatch",
    "RunIn",
    "RunOut",
    "StatusIn",
    "Token",
    "UserIn",
    "UserOut",
]

T = TypeVar("T")
Group = Literal["O", "A", "B", "AB"]
Subgroup = Literal["A1", "A2", "A1B", "A2B"]


def _hla(value: list[str] | None, info: ValidationInfo) -> list[str] | None:
    """Check HLA names; the error names the bad entry (pydantic adds the field)."""
    if value is None:
        return None
    try:
        read_names(value, record="", field="", typing=info.field_name == "hla")
    except ValidationErrors as err:  # every bad entry, each with its place in the list
        raise ValueError("; ".join(f"{e.field} {e.message}" for e in err.errors)) from None
    except ValidationError as err:
        raise ValueError(err.message) from None
    return value


def _born(value: dt.date | None) -> dt.date | None:
    """Refuse a date of birth that gives no plausible age today.

    Stored, it would be refused by every matching run's snapshot (the age it gives is not
    plausible), so one typo would stop the whole programme's runs.
    """
    if value is None:
        return None
    today = dt.date.today()
    if value > today:
        raise ValueError(f"{value.isoformat()} is in the future")
    if age_on(value, today) >= MAX_AGE:
        raise ValueError(f"{value.isoformat()} gives an age of {MAX_AGE} years or more")
    return value


class Page(BaseModel, Generic[T]):
    """One page of a list."""

    items: list[T]
    total: int
    limit: int
    offset: int


class Token(BaseModel):
    """An access token."""

    access_token: str
    token_type: str = "bearer"
    expires_in: int
    role: str
    centre: str | None


class Centre(BaseModel):
    """A transplant centre."""

    model_config = ConfigDict(from_attributes=True)
    id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    name: str = Field(min_length=1, max_length=200)


class UserIn(BaseModel):
    """A new user."""

    username: str = Field(pattern=r"^[A-Za-z0-9_.@-]{3,100}$")
    password: str = Field(min_length=12, max_length=200)
    role: Literal["admin", "coordinator", "auditor"]
    centre_id: str | None = None


class UserOut(BaseModel):
    """A user, without the password hash."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    username: str
    role: str
    centre_id: str | None
    active: bool


class _PatientFields(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subgroup: Subgroup | None = None
    hla: list[str] = []
    unacceptable: list[str] = []
    cpra: float | None = Field(default=None, ge=0, le=1)
    date_of_birth: dt.date | None = None
    listed: dt.date | None = None
    dialysis_start: dt.date | None = None
    previous_transplants: int = Field(default=0, ge=0, le=20)
    anti_a_titre: int | None = Field(default=None, ge=1)
    max_donor_age: float | None = Field(default=None, gt=0, lt=MAX_AGE)
    declined_donors: list[str] = []

    _check_hla = field_validator("hla", "unacceptable")(_hla)


class PatientIn(_PatientFields):
    """A new patient. Ids are opaque: never a name."""

    id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    centre_id: str | None = None
    blood_group: Group

    _check_born = field_validator("date_of_birth")(_born)


class PatientPatch(BaseModel):
    """Changes to a patient; `version` must be the version read (optimistic locking)."""

    model_config = ConfigDict(extra="forbid")
    version: int
    blood_group: Group | None = None
    subgroup: Subgroup | None = None
    hla: list[str] | None = None
    unacceptable: list[str] | None = None
    cpra: float | None = Field(default=None, ge=0, le=1)
    date_of_birth: dt.date | None = None
    listed: dt.date | None = None
    dialysis_start: dt.date | None = None
    previous_transplants: int | None = Field(default=None, ge=0, le=20)
    anti_a_titre: int | None = Field(default=None, ge=1)
    max_donor_age: float | None = Field(default=None, gt=0, lt=MAX_AGE)
    declined_donors: list[str] | None = None

    _check_hla = field_validator("hla", "unacceptable")(_hla)
    _check_born = field_validator("date_of_birth")(_born)


class PatientOut(_PatientFields):
    """A patient as stored."""

    model_config = ConfigDict(from_attributes=True)
    id: str
    centre_id: str
    blood_group: str
    status: str
    version: int


class DonorIn(BaseModel):
    """A new donor: paired (with `patient_id`) or non-directed."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    centre_id: str | None = None
    patient_id: str | None = None
    blood_group: Group
    subgroup: Subgroup | None = None
    hla: list[str] = []
    date_of_birth: dt.date | None = None
    consent_given: dt.date | None = None

    _check_hla = field_validator("hla")(_hla)
    _check_born = field_validator("date_of_birth")(_born)


class DonorPatch(BaseModel):
    """Changes to a donor; `version` must be the version read."""

    model_config = ConfigDict(extra="forbid")
    version: int
    blood_group: Group | None = None
    subgroup: Subgroup | None = None
    hla: list[str] | None = None
    date_of_birth: dt.date | None = None
    consent_given: dt.date | None = None

    _check_hla = field_validator("hla")(_hla)
    _check_born = field_validator("date_of_birth")(_born)


class DonorOut(BaseModel):
    """A donor as stored."""

    model_config = ConfigDict(from_attributes=True)
    id: str
    centre_id: str
    patient_id: str | None
    blood_group: str
    subgroup: str | None
    hla: list[str]
    date_of_birth: dt.date | None
    consent_given: dt.date | None
    consent_withdrawn_at: dt.datetime | None
    donated_on: dt.date | None
    status: str
    version: int


class StatusIn(BaseModel):
    """A change of a person's state."""

    to: str
    reason: str | None = Field(default=None, max_length=1000)


class RunIn(BaseModel):
    """The policy of a new matching run (``max_chain`` null: chains of any length).

    ``scoring`` is a shipped policy's name or a programme's own points table, the document of
    a policy file as JSON (``{"name": ..., "component": [...]}``); the run keeps it whole.
    ``cpra_panel_digest`` names an uploaded reference panel (the shipped panel if null);
    it and ``cpra_with_abo`` apply to patients whose cPRA is not recorded.
    """

    model_config = ConfigDict(extra="forbid")
    max_cycle: int = Field(default=3, ge=0, le=6)
    max_chain: int | None = Field(default=2, ge=0, le=10)
    objective: Literal["transplants", "score", "uk"] = "uk"
    scoring: Literal["uk", "transplants"] | dict[str, Any] = "uk"
    a2_max_titre: int | None = Field(default=None, ge=1)
    cpra_with_abo: bool = False
    cpra_panel_digest: str | None = Field(default=None, pattern=r"^[0-9a-f]{16}$")
    time_limit: float | None = Field(default=300.0, gt=0, le=3600)

    @field_validator("scoring")
    @classmethod
    def _points_table(cls, value: str | dict[str, Any]) -> str | dict[str, Any]:
        if isinstance(value, dict):
            try:
                ScoringPolicy.from_mapping(value, source="points table")
            except PolicyError as err:  # every bad line, not only the first
                raise ValueError("; ".join(err.problems)) from None
        return value

    @model_validator(mode="after")
    def _chain_cap_for_uk(self) -> RunIn:
        if self.max_chain is None and self.objective == "uk":
            raise ValueError(
                "max_chain: unbounded chains are not offered with the UK hierarchy, "
                "whose model follows chains by position"
            )
        return self


class PanelOut(BaseModel):
    """An uploaded cPRA reference panel (its donors' typings are not repeated)."""

    model_config = ConfigDict(from_attributes=True)
    digest: str
    source: str
    donors: int
    created_at: dt.datetime


class RunOut(BaseModel):
    """A matching run: status, progress and (when done) the result."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    status: str
    progress: str
    policy: dict[str, Any]
    snapshot_digest: str
    rerun_of: int | None
    result_digest: str | None
    solver: dict[str, Any] | None
    timings: dict[str, Any] | None
    error: str | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    result: dict[str, Any] | None = None


class ExchangeOut(BaseModel):
    """A proposed exchange and where it stands."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    run_id: int
    kind: str
    state: str
    transplants: list[dict[str, Any]]
    to_waiting_list: str | None
    centres: list[str]
    accepted_by: list[str] = []
    broken_reason: str | None
    scheduled_on: dt.date | None
    version: int


class CrossmatchIn(BaseModel):
    """The result of the physical crossmatch of an accepted exchange."""

    passed: bool
    detail: str | None = Field(default=None, max_length=1000)


class ScheduleIn(BaseModel):
    """The date surgery is scheduled for."""

    on: dt.date


class BreakIn(BaseModel):
    """Why an exchange cannot go ahead."""

    reason: str = Field(min_length=3, max_length=1000)


class FollowUpIn(BaseModel):
    """A donor follow-up visit's findings."""

    model_config = ConfigDict(extra="forbid")
    version: int
    done_on: dt.date
    egfr: float | None = Field(default=None, ge=0, le=200)
    creatinine: float | None = Field(default=None, ge=0, le=3000)
    systolic: int | None = Field(default=None, ge=50, le=300)
    diastolic: int | None = Field(default=None, ge=20, le=200)
    complications: str | None = Field(default=None, max_length=2000)


class FollowUpOut(BaseModel):
    """A donor follow-up visit."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    donor_id: str
    label: str
    due_on: dt.date
    done_on: dt.date | None
    egfr: float | None
    creatinine: float | None
    systolic: int | None
    diastolic: int | None
    complications: str | None
    version: int
    overdue: bool = False
