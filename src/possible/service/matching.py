"""Matching runs and the exchanges they propose.

An administrator starts a run; the pool is snapshotted in the request and solved by the
background worker, never in the request. Coordinators see the runs and the exchanges that
involve their centre (other centres' people appear only as opaque ids) and carry those
exchanges through acceptance, crossmatch, scheduling and surgery.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Request, Response, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from possible.hla.cpra import Panel
from possible.registry.lifecycle import move_exchange
from possible.registry.models import CpraPanel, Exchange, ExchangeAcceptance, MatchRun
from possible.registry.runs import create_run
from possible.service.deps import Actor, SessionDep, audit, current_user, require
from possible.service.schemas import (
    BreakIn,
    CrossmatchIn,
    ExchangeOut,
    PanelOut,
    RunIn,
    RunOut,
    ScheduleIn,
)

__all__ = ["router"]

router = APIRouter()
Admin = Annotated[Actor, require("admin")]
Anyone = Annotated[Actor, Depends(current_user)]


def _submit(request: Request, run_id: int) -> None:
    request.app.state.worker.submit(run_id)


@router.post("/match-runs", response_model=RunOut, status_code=status.HTTP_202_ACCEPTED)
def start_run(body: RunIn, actor: Admin, session: SessionDep, request: Request) -> MatchRun:
    """Snapshot the eligible pool and queue a matching run under `body`'s policy."""
    run = create_run(session, body.model_dump(), actor=actor.id)
    audit(session, actor, "start_run", "match_run", str(run.id), snapshot=run.snapshot_digest)
    session.commit()
    _submit(request, run.id)
    return run


@router.post("/cpra-panels", response_model=PanelOut, status_code=status.HTTP_201_CREATED)
def upload_panel(
    document: Annotated[dict[str, Any], Body()],
    actor: Admin,
    session: SessionDep,
    response: Response,
) -> CpraPanel:
    """Keep a programme's own cPRA reference panel; runs then name it by its digest.

    The body is a panel file's JSON document (``{"source": ..., "donors": [{"hla": [...],
    "blood_group": "O"}, ...]}``), checked as ``possible --panel`` checks one: every bad donor
    is reported (422) and nothing is kept. A panel already kept is answered with 200.
    """
    panel = Panel.from_document(document, where="panel")
    digest = panel.digest()
    row = session.get(CpraPanel, digest)
    if row is not None:
        response.status_code = status.HTTP_200_OK
        return row
    row = CpraPanel(
        digest=digest,
        source=panel.source,
        donors=len(panel),
        document=document,
        created_by=actor.id,
    )
    session.add(row)
    session.flush()
    audit(session, actor, "create", "cpra_panel", row.digest, donors=row.donors)
    return row


@router.get("/cpra-panels", response_model=list[PanelOut])
def list_panels(actor: Anyone, session: SessionDep) -> list[CpraPanel]:
    """List the uploaded cPRA reference panels, newest first."""
    audit(session, actor, "list", "cpra_panel", None)
    return list(session.scalars(select(CpraPanel).order_by(CpraPanel.created_at.desc())))


@router.post("/match-runs/{run_id}/rerun", response_model=RunOut, status_code=202)
def rerun(run_id: int, actor: Admin, session: SessionDep, request: Request) -> MatchRun:
    """Run a stored run's snapshot and policy again (to check it reproduces; proposes nothing)."""
    original = session.get(MatchRun, run_id)
    if original is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no match run {run_id}")
    run = create_run(session, {}, actor=actor.id, rerun_of=original)
    audit(session, actor, "rerun", "match_run", str(run.id), of=run_id)
    session.commit()
    _submit(request, run.id)
    return run


@router.get("/match-runs", response_model=list[RunOut])
def list_runs(actor: Anyone, session: SessionDep) -> list[MatchRun]:
    """Every run, newest first (without results; read one run for its result)."""
    audit(session, actor, "list", "match_run", None)
    return list(session.scalars(select(MatchRun).order_by(MatchRun.id.desc())))


@router.get("/match-runs/{run_id}", response_model=RunOut)
def read_run(run_id: int, actor: Anyone, session: SessionDep) -> RunOut:
    """Read a run's status and progress, and its result once done.

    Administrators and auditors see the whole result; a coordinator sees the exchanges that
    involve their centre.
    """
    run = session.get(MatchRun, run_id)
    if run is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no match run {run_id}")
    audit(session, actor, "read", "match_run", str(run_id))
    out = RunOut.model_validate(run)
    if run.result is not None:
        result: dict[str, Any] = dict(run.result)
        if actor.role == "coordinator":
            mine = {e.id for e in _exchanges_for(session, actor, run_id)}
            result["exchanges"] = [
                e
                for e, row in zip(result["exchanges"], _rows(session, run_id), strict=False)
                if row.id in mine
            ]
            result.pop("unmatched", None)
        out.result = result
    return out


def _rows(session: Session, run_id: int) -> list[Exchange]:
    return list(
        session.scalars(select(Exchange).where(Exchange.run_id == run_id).order_by(Exchange.id))
    )


def _exchanges_for(session: Session, actor: Actor, run_id: int | None = None) -> list[Exchange]:
    query = select(Exchange).order_by(Exchange.id)
    if run_id is not None:
        query = query.where(Exchange.run_id == run_id)
    rows = list(session.scalars(query))
    if actor.role == "coordinator":
        rows = [e for e in rows if actor.centre_id in e.centres]
    return rows


def _out(session: Session, exchange: Exchange) -> ExchangeOut:
    out = ExchangeOut.model_validate(exchange)
    out.accepted_by = sorted(
        session.scalars(
            select(ExchangeAcceptance.centre_id).where(
                ExchangeAcceptance.exchange_id == exchange.id
            )
        )
    )
    return out


@router.get("/exchanges", response_model=list[ExchangeOut])
def list_exchanges(
    actor: Anyone, session: SessionDep, run_id: int | None = None, state: str | None = None
) -> list[ExchangeOut]:
    """Exchanges (for a coordinator: those involving their centre), optionally by run and state."""
    rows = [e for e in _exchanges_for(session, actor, run_id) if state is None or e.state == state]
    audit(session, actor, "list", "exchange", None, ids=[e.id for e in rows])
    return [_out(session, e) for e in rows]


def _exchange(session: Session, actor: Actor, exchange_id: int) -> Exchange:
    row = session.get(Exchange, exchange_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no exchange {exchange_id}")
    if actor.role == "coordinator" and actor.centre_id not in row.centres:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this exchange does not involve your centre")
    if actor.role == "auditor":
        raise HTTPException(status.HTTP_403_FORBIDDEN, "auditors read, they do not act")
    return row


@router.post("/exchanges/{exchange_id}/accept", response_model=ExchangeOut)
def accept(
    exchange_id: int, actor: Annotated[Actor, require("coordinator")], session: SessionDep
) -> ExchangeOut:
    """Accept an exchange for the coordinator's centre; once all centres have, it is accepted."""
    row = _exchange(session, actor, exchange_id)
    if row.state != "proposed":
        raise HTTPException(status.HTTP_409_CONFLICT, f"exchange is {row.state}, not proposed")
    done = set(
        session.scalars(
            select(ExchangeAcceptance.centre_id).where(ExchangeAcceptance.exchange_id == row.id)
        )
    )
    if actor.centre_id not in done:
        assert actor.centre_id is not None
        session.add(
            ExchangeAcceptance(exchange_id=row.id, centre_id=actor.centre_id, user_id=actor.id)
        )
        done.add(actor.centre_id)
    if done >= set(row.centres):
        move_exchange(session, row, "accepted", actor=actor.id)
    session.flush()
    audit(session, actor, "accept", "exchange", str(exchange_id))
    return _out(session, row)


Acting = Annotated[Actor, require("coordinator", "admin")]


def _step(
    session: Session,
    actor: Actor,
    exchange_id: int,
    action: str,
    change: Callable[[Exchange], None],
    **detail: Any,
) -> ExchangeOut:
    """Apply one step of an exchange's life, audit it, and return the exchange."""
    row = _exchange(session, actor, exchange_id)
    change(row)
    session.flush()
    audit(session, actor, action, "exchange", str(exchange_id), **detail)
    return _out(session, row)


@router.post("/exchanges/{exchange_id}/crossmatch", response_model=ExchangeOut)
def crossmatch(
    exchange_id: int, body: CrossmatchIn, actor: Acting, session: SessionDep
) -> ExchangeOut:
    """Record the physical crossmatch: passed moves it on; failed breaks it, releasing all."""

    def change(row: Exchange) -> None:
        if body.passed:
            move_exchange(session, row, "crossmatch_passed", actor=actor.id)
            return
        if row.state != "accepted":
            raise HTTPException(status.HTTP_409_CONFLICT, f"exchange is {row.state}, not accepted")
        reason = "crossmatch failed" + (f": {body.detail}" if body.detail else "")
        move_exchange(session, row, "broken", actor=actor.id, reason=reason)

    return _step(session, actor, exchange_id, "crossmatch", change, passed=body.passed)


@router.post("/exchanges/{exchange_id}/schedule", response_model=ExchangeOut)
def schedule(exchange_id: int, body: ScheduleIn, actor: Acting, session: SessionDep) -> ExchangeOut:
    """Schedule the surgery of an exchange whose crossmatch passed."""

    def change(row: Exchange) -> None:
        move_exchange(session, row, "scheduled", actor=actor.id)
        row.scheduled_on = body.on

    return _step(session, actor, exchange_id, "schedule", change)


@router.post("/exchanges/{exchange_id}/done", response_model=ExchangeOut)
def done(
    exchange_id: int, actor: Acting, session: SessionDep, on: dt.date | None = None
) -> ExchangeOut:
    """Mark the transplants done: donors donated (follow-ups scheduled), patients transplanted."""

    def change(row: Exchange) -> None:
        move_exchange(session, row, "done", actor=actor.id, today=on)

    return _step(session, actor, exchange_id, "done", change)


@router.post("/exchanges/{exchange_id}/break", response_model=ExchangeOut)
def break_(exchange_id: int, body: BreakIn, actor: Acting, session: SessionDep) -> ExchangeOut:
    """Break an exchange with a reason; its people return to the pool."""

    def change(row: Exchange) -> None:
        move_exchange(session, row, "broken", actor=actor.id, reason=body.reason)

    return _step(session, actor, exchange_id, "break", change)
