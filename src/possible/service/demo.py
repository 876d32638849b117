"""The demo programme, seeded into an empty database.

Two centres, their coordinators, an administrator, an auditor, and a generated clinical pool of
a few hundred people, everyone active and every donor's consent on record.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from possible.generate.clinical import clinical_pool
from possible.registry.db import Database
from possible.registry.models import Centre, Donor, Patient, StateChange, User
from possible.service.security import hash_password

__all__ = ["DEMO_USERS", "seed_demo"]

DEMO_USERS = {
    "admin": ("admin", None),
    "north": ("coordinator", "north"),
    "south": ("coordinator", "south"),
    "auditor": ("auditor", None),
}
"""Demo user names: role and centre. Every demo password is ``DEMO_PASSWORD``."""
DEMO_PASSWORD = "possible-demo"
"""The demo users' password (development only; the service refuses demo data in production)."""


def seed_demo(db: Database, *, patients: int = 150, seed: int = 2026) -> bool:
    """Fill an empty database with the demo programme; leave a non-empty one alone.

    Returns
    -------
    bool
        Whether anything was written.
    """
    with db.session() as session:
        if session.scalar(select(func.count()).select_from(User)):
            return False
        session.add_all(
            [
                Centre(id="north", name="North Transplant Centre"),
                Centre(id="south", name="South Transplant Centre"),
            ]
        )
        session.flush()
        digest = hash_password(DEMO_PASSWORD)
        for name, (role, centre) in DEMO_USERS.items():
            session.add(User(username=name, password_hash=digest, role=role, centre_id=centre))
        pool = clinical_pool(patients, seed=seed)
        as_of = pool.as_of or dt.date.today()
        centre_of: dict[str, str] = {}
        for k, p in enumerate(pool.patients):
            centre = "north" if k % 2 == 0 else "south"
            centre_of[p.id] = centre
            session.add(
                Patient(
                    id=p.id,
                    centre_id=centre,
                    status="active",
                    blood_group=p.blood_group.value if p.blood_group else "O",
                    subgroup=p.subgroup,
                    hla=list(p.hla),
                    unacceptable=list(p.unacceptable),
                    cpra=p.cpra,
                    date_of_birth=_born(p.age, as_of),
                    listed=p.listed,
                    dialysis_start=p.dialysis_start,
                    previous_transplants=p.previous_transplants,
                    anti_a_titre=p.anti_a_titre,
                    declined_donors=list(p.declined_donors),
                )
            )
        session.flush()
        for k, d in enumerate(pool.donors):
            centre = centre_of[d.patient] if d.patient else ("north" if k % 2 == 0 else "south")
            session.add(
                Donor(
                    id=d.id,
                    centre_id=centre,
                    patient_id=d.patient,
                    status="active",
                    blood_group=d.blood_group.value if d.blood_group else "O",
                    subgroup=d.subgroup,
                    hla=list(d.hla),
                    date_of_birth=_born(d.age, as_of),
                    consent_given=d.consent,
                )
            )
        people = [("patient", p.id) for p in pool.patients] + [("donor", d.id) for d in pool.donors]
        for kind, person_id in people:
            session.add(
                StateChange(
                    subject_type=kind,
                    subject_id=person_id,
                    from_state=None,
                    to_state="active",
                    reason="demo data",
                )
            )
    return True


def _born(age: float | None, as_of: dt.date) -> dt.date | None:
    return None if age is None else as_of - dt.timedelta(days=round(age * 365.25))
