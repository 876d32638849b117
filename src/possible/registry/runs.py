"""Matching runs over the registry: snapshot the eligible pool, solve, propose the exchanges.

A run keeps the exact pool it ran on (possible's pool JSON, version 2) and its digest, so that
running the snapshot again gives the identical result. The result is applied when the solve
ends: an exchange whose people are no longer eligible by then (a donor withdrew consent during
the run, a patient was suspended) is recorded as broken at once, never proposed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from possible.compatibility import AboRule, Rules, ScoringPolicy, build_arcs
from possible.domain import BloodGroup, Pool, age_on
from possible.domain import Donor as DomainDonor
from possible.domain import Patient as DomainPatient
from possible.errors import ValidationError
from possible.formats.pool_json import pool_json_text, read_pool_json
from possible.hla.cpra import Panel
from possible.optimise import solve
from possible.registry.db import Database
from possible.registry.lifecycle import move_person
from possible.registry.models import CpraPanel, Donor, Exchange, MatchRun, Patient

__all__ = [
    "CPRA_BANDS",
    "DEFAULT_POLICY",
    "copy_policy",
    "cpra_band",
    "create_run",
    "execute_run",
    "matching_runs",
    "result_digest",
    "snapshot_pool",
]

DEFAULT_POLICY: dict[str, Any] = {
    "max_cycle": 3,
    "max_chain": 2,
    "objective": "uk",
    "scoring": "uk",
    "a2_max_titre": None,
    "cpra_with_abo": False,
    "cpra_panel_digest": None,
    "time_limit": 300.0,
}
"""The policy of a run that names nothing else."""


def snapshot_pool(session: Session, as_of: dt.date) -> Pool:
    """Build the pool a run would use now: active patients, and active consenting donors.

    A paired donor is in only with their patient; a patient only with at least one donor.
    Each patient carries how many earlier runs they were in (:func:`matching_runs`).
    """
    donors = [
        d
        for d in session.scalars(select(Donor).where(Donor.status == "active").order_by(Donor.id))
        if d.consent_given is not None and d.consent_withdrawn_at is None
    ]
    patients = {
        p.id: p
        for p in session.scalars(
            select(Patient).where(Patient.status == "active").order_by(Patient.id)
        )
    }
    donors = [d for d in donors if d.patient_id is None or d.patient_id in patients]
    with_donor = {d.patient_id for d in donors if d.patient_id is not None}
    known = {d.id for d in donors}
    runs = matching_runs(session)
    return Pool.build(
        [
            _domain_patient(p, as_of, known, runs.get(p.id, 0))
            for p in patients.values()
            if p.id in with_donor
        ],
        [_domain_donor(d, as_of) for d in donors],
        clinical_arcs=True,
        as_of=as_of,
    )


def matching_runs(session: Session) -> dict[str, int]:
    """How many earlier matching runs each patient has been in.

    A run counts when it finished (``done``) and is not a rerun: a rerun reproduces an earlier
    run from its snapshot and gives no one a new chance of a match. The count is read from the
    runs' own snapshots, so it is the record of who was actually in each run.
    """
    counts: dict[str, int] = {}
    done = select(MatchRun.snapshot).where(MatchRun.status == "done", MatchRun.rerun_of.is_(None))
    for snapshot in session.scalars(done):
        for patient in json.loads(snapshot).get("patients", []):
            counts[patient["id"]] = counts.get(patient["id"], 0) + 1
    return counts


def _age(born: dt.date | None, as_of: dt.date) -> float | None:
    return None if born is None else age_on(born, as_of)


def _domain_patient(p: Patient, as_of: dt.date, donors: set[str], runs: int) -> DomainPatient:
    return DomainPatient(
        p.id,
        BloodGroup.parse(p.blood_group),
        p.cpra,
        centre=p.centre_id,
        subgroup=p.subgroup,
        hla=tuple(p.hla),
        unacceptable=tuple(p.unacceptable),
        age=_age(p.date_of_birth, as_of),
        listed=p.listed,
        dialysis_start=p.dialysis_start,
        previous_transplants=p.previous_transplants,
        anti_a_titre=p.anti_a_titre,
        declined_donors=tuple(d for d in p.declined_donors if d in donors),
        max_donor_age=p.max_donor_age,
        matching_runs=runs,
    )


def _domain_donor(d: Donor, as_of: dt.date) -> DomainDonor:
    return DomainDonor(
        d.id,
        d.patient_id,
        BloodGroup.parse(d.blood_group),
        _age(d.date_of_birth, as_of),
        centre=d.centre_id,
        subgroup=d.subgroup,
        hla=tuple(d.hla),
        consent=d.consent_given,
    )


def create_run(
    session: Session,
    policy: dict[str, Any],
    *,
    actor: int | None,
    today: dt.date | None = None,
    rerun_of: MatchRun | None = None,
) -> MatchRun:
    """Queue a run: snapshot the eligible pool now (or reuse `rerun_of`'s snapshot)."""
    if rerun_of is not None:
        snapshot, digest, policy = rerun_of.snapshot, rerun_of.snapshot_digest, rerun_of.policy
    else:
        day = today or dt.date.today()
        snapshot = pool_json_text(snapshot_pool(session, day), as_of=day)
        digest = hashlib.sha256(snapshot.encode()).hexdigest()
        policy = copy_policy(policy)
        wanted = policy.get("cpra_panel_digest")
        panel = _kept_panel(session, wanted)
        if wanted is not None and panel is None:
            raise ValidationError(
                f"no uploaded cPRA panel {wanted!r} (see GET /cpra-panels)",
                field="cpra_panel_digest",
            )
        if policy.get("cpra_with_abo") and panel is not None and panel.blood_groups is None:
            raise ValidationError(
                f"the cPRA panel {wanted!r} has no blood groups, so blood group cannot count",
                field="cpra_with_abo",
            )
    run = MatchRun(
        status="queued",
        policy=policy,
        snapshot=snapshot,
        snapshot_digest=digest,
        rerun_of=None if rerun_of is None else rerun_of.id,
        created_by=actor,
    )
    session.add(run)
    session.flush()
    return run


def _kept_panel(session: Session, digest: str | None) -> Panel | None:
    """Return the uploaded panel `digest` names (``None``: the shipped one, or no such panel)."""
    kept = None if digest is None else session.get(CpraPanel, digest)
    return None if kept is None else Panel.from_document(kept.document)


def result_digest(result: dict[str, Any]) -> str:
    """SHA-256 of a result document without its timings (equal runs, equal digests)."""
    body = {k: v for k, v in result.items() if k != "timings"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def execute_run(db: Database, run_id: int) -> None:
    """Solve a queued run and propose its exchanges; a failure is recorded on the run."""
    with db.session() as session:
        run = session.get(MatchRun, run_id)
        if run is None or run.status != "queued":
            return
        run.status = "running"
        run.started_at = dt.datetime.now(dt.UTC)
        snapshot, policy = run.snapshot, dict(run.policy)
        panel = _kept_panel(session, policy.get("cpra_panel_digest"))

    def progress(message: str) -> None:
        with db.session() as session:
            row = session.get(MatchRun, run_id)
            if row is not None:
                row.progress = message

    try:
        result = _solve_snapshot(snapshot, policy, progress, panel)
    except Exception as err:  # recorded on the run, never lost
        with db.session() as session:
            row = session.get(MatchRun, run_id)
            assert row is not None
            row.status = "failed"
            row.error = f"{type(err).__name__}: {err}"
            row.finished_at = dt.datetime.now(dt.UTC)
        return
    with db.session() as session:
        row = session.get(MatchRun, run_id)
        assert row is not None
        row.result = result
        row.result_digest = result_digest(result)
        row.solver = result["solver"]
        row.timings = result.get("timings")
        row.progress = "done"
        if row.rerun_of is None:
            _propose(session, row, result)
        row.status = "done"
        row.finished_at = dt.datetime.now(dt.UTC)


def _solve_snapshot(
    snapshot: str, policy: dict[str, Any], progress: Callable[[str], None], panel: Panel | None
) -> dict[str, Any]:
    pool = read_pool_json(snapshot)
    progress("deriving arcs")
    rules = Rules(
        abo=AboRule(a2_max_titre=policy.get("a2_max_titre")),
        cpra_with_abo=bool(policy.get("cpra_with_abo", False)),
    )
    scoring = policy.get("scoring", "uk")
    if isinstance(scoring, dict):  # a programme's own points table, kept whole with the run
        scoring = ScoringPolicy.from_mapping(scoring, source="points table")
    compat = build_arcs(pool, rules=rules, scoring=scoring, panel=panel)
    result = solve(
        compat.pool,
        max_cycle=int(policy["max_cycle"]),
        max_chain=None if policy["max_chain"] is None else int(policy["max_chain"]),
        objective=policy.get("objective", "uk"),
        time_limit=policy.get("time_limit"),
        progress=progress,
    )
    doc = compat.explain_result(result).to_dict()
    used = {k: v for k, v in doc["policy"].items() if k.startswith("cpra_")}
    # The run's policy, with what it resolved to: the points table's and the panel's digests,
    # whose cPRA was computed, and the date waiting and ages were counted to.
    doc["policy"] = {
        **policy,
        **used,
        "scoring_digest": compat.policy.digest(),
        "as_of": compat.as_of and compat.as_of.isoformat(),  # the snapshot's date
    }
    doc["compatibility"] = compat.counts()
    doc["summary"] = _summary(compat.pool, doc)
    return doc


CPRA_BANDS = (
    (0.0, 0.5, "0-49%"),
    (0.5, 0.85, "50-84%"),
    (0.85, 0.95, "85-94%"),
    (0.95, 1.01, "95-100%"),
)
"""Sensitisation bands used in summaries and dashboards."""


def cpra_band(cpra: float | None) -> str:
    """Name the sensitisation band of a cPRA (``"unknown"`` without one)."""
    if cpra is None:
        return "unknown"
    return next(name for low, high, name in CPRA_BANDS if low <= cpra < high)


def _summary(pool: Pool, doc: dict[str, Any]) -> dict[str, Any]:
    """Transplants and patients left, by blood group and sensitisation band (counts only)."""
    patients = {p.id: p for p in pool.patients}
    matched = [t["patient"] for e in doc["exchanges"] for t in e["transplants"]]
    left = [u["patient"] for u in doc["unmatched"]]

    def count(ids: list[str]) -> dict[str, dict[str, int]]:
        groups: dict[str, int] = {}
        bands: dict[str, int] = {}
        for pid in ids:
            p = patients[pid]
            g = p.blood_group.value if p.blood_group else "unknown"
            groups[g] = groups.get(g, 0) + 1
            b = cpra_band(p.cpra)
            bands[b] = bands.get(b, 0) + 1
        return {
            "by_blood_group": dict(sorted(groups.items())),
            "by_cpra_band": dict(sorted(bands.items())),
        }

    return {
        "transplants": len(matched),
        "patients": len(patients),
        "matched": count(matched),
        "unmatched": count(left),
    }


def _propose(session: Session, run: MatchRun, result: dict[str, Any]) -> None:
    for exchange in result["exchanges"]:
        transplants = exchange["transplants"]
        last = exchange.get("to_waiting_list")
        people: list[Patient | Donor] = []
        for t in transplants:
            people.append(_get(session, Donor, t["donor"]))
            people.append(_get(session, Patient, t["patient"]))
        if last:
            people.append(_get(session, Donor, last))
        gone = [p for p in people if p.status != "active" or _withdrawn(p)]
        centres = sorted({p.centre_id for p in people})
        row = Exchange(
            run_id=run.id,
            kind=exchange["kind"],
            transplants=transplants,
            to_waiting_list=last,
            centres=centres,
        )
        session.add(row)
        if gone:
            row.state = "broken"
            row.broken_reason = "no longer eligible when the run ended: " + ", ".join(
                sorted(p.id for p in gone)
            )
            continue
        for person in people:
            move_person(session, person, "matched", actor=run.created_by, reason=f"run {run.id}")


def _withdrawn(person: Patient | Donor) -> bool:
    return isinstance(person, Donor) and person.consent_withdrawn_at is not None


def _get(session: Session, model: type[Patient] | type[Donor], key: str) -> Any:
    row = session.get(model, key)
    if row is None:
        raise LookupError(f"{model.__name__.lower()} {key} is not in the registry")
    return row


def copy_policy(policy: dict[str, Any]) -> dict[str, Any]:
    """Return the full policy of a run: `policy` over :data:`DEFAULT_POLICY`."""
    merged = dict(DEFAULT_POLICY)
    merged.update(policy)
    return merged
