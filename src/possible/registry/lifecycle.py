"""The legal lives of people and exchanges, and what each step does to the others.

People (patients and donors) move through::

    referral -> evaluation -> active <-> suspended
    active -> matched -> scheduled -> donated (donor) / transplanted (patient)
    matched, scheduled -> active      (their exchange broke: released to the pool)
    any state but donated/transplanted -> withdrawn

Exchanges move through::

    proposed -> accepted (every centre involved has accepted) -> crossmatch_passed
    -> scheduled -> done;   any of these but done -> broken (with a reason)

A broken exchange releases its people back to the pool; a done exchange makes its donors
*donated* (with follow-ups at 6 months, 1 year and 2 years) and its patients *transplanted*.
Withdrawing a donor's consent takes effect at once: the donor is withdrawn, every open exchange
with them is broken and its other members released.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from possible.errors import PossibleError
from possible.registry.models import Donor, Exchange, FollowUp, Patient, StateChange

__all__ = [
    "EXCHANGE_STATES",
    "PERSON_STATES",
    "TransitionError",
    "break_exchange",
    "move_exchange",
    "move_person",
    "withdraw_consent",
]

_PERSON_MOVES = {
    "referral": {"evaluation", "withdrawn"},
    "evaluation": {"active", "withdrawn"},
    "active": {"suspended", "matched", "withdrawn"},
    "suspended": {"active", "withdrawn"},
    "matched": {"scheduled", "active", "withdrawn"},
    "scheduled": {"donated", "transplanted", "active", "withdrawn"},
    "donated": set(),
    "transplanted": set(),
    "withdrawn": set(),
}
PERSON_STATES = tuple(_PERSON_MOVES)
"""Every state a patient or donor can be in."""

_EXCHANGE_MOVES = {
    "proposed": {"accepted", "broken"},
    "accepted": {"crossmatch_passed", "broken"},
    "crossmatch_passed": {"scheduled", "broken"},
    "scheduled": {"done", "broken"},
    "done": set(),
    "broken": set(),
}
EXCHANGE_STATES = tuple(_EXCHANGE_MOVES)
"""Every state an exchange can be in."""

FOLLOW_UPS = (("6 months", 182), ("1 year", 365), ("2 years", 730))
"""Follow-up visits after donation: label and days after the donation."""


class TransitionError(PossibleError):
    """A change of state the lifecycle does not allow."""


def move_person(
    session: Session,
    person: Patient | Donor,
    to: str,
    *,
    actor: int | None,
    reason: str | None = None,
) -> None:
    """Move a patient or donor to state `to`, recording who, when and why.

    Raises
    ------
    TransitionError
        If the move is not legal from the person's current state.
    """
    kind = "patient" if isinstance(person, Patient) else "donor"
    if (to == "donated" and kind == "patient") or (to == "transplanted" and kind == "donor"):
        raise TransitionError(f"a {kind} cannot become {to}")
    if to not in _PERSON_MOVES.get(person.status, set()):
        raise TransitionError(f"{kind} {person.id} cannot go from {person.status} to {to}")
    session.add(
        StateChange(
            subject_type=kind,
            subject_id=person.id,
            from_state=person.status,
            to_state=to,
            reason=reason,
            actor_id=actor,
        )
    )
    person.status = to
    person.updated_at = dt.datetime.now(dt.UTC)


def move_exchange(
    session: Session,
    exchange: Exchange,
    to: str,
    *,
    actor: int | None,
    reason: str | None = None,
    today: dt.date | None = None,
) -> None:
    """Move an exchange to state `to` and carry the effect over to its people.

    Raises
    ------
    TransitionError
        If the move is not legal, or breaking without a reason.
    """
    if to not in _EXCHANGE_MOVES[exchange.state]:
        raise TransitionError(f"exchange {exchange.id} cannot go from {exchange.state} to {to}")
    if to == "broken" and not reason:
        raise TransitionError("breaking an exchange needs a reason")
    session.add(
        StateChange(
            subject_type="exchange",
            subject_id=str(exchange.id),
            from_state=exchange.state,
            to_state=to,
            reason=reason,
            actor_id=actor,
        )
    )
    exchange.state = to
    if to == "broken":
        exchange.broken_reason = reason
        for person in _people(session, exchange):
            if person.status in ("matched", "scheduled"):
                move_person(session, person, "active", actor=actor, reason="exchange broken")
    elif to == "scheduled":
        for person in _people(session, exchange):
            move_person(session, person, "scheduled", actor=actor)
    elif to == "done":
        day = today or dt.date.today()
        for person in _people(session, exchange):
            if isinstance(person, Donor):
                move_person(session, person, "donated", actor=actor)
                person.donated_on = day
                for label, days in FOLLOW_UPS:
                    session.add(
                        FollowUp(
                            donor_id=person.id, label=label, due_on=day + dt.timedelta(days=days)
                        )
                    )
            else:
                move_person(session, person, "transplanted", actor=actor)


def break_exchange(session: Session, exchange: Exchange, reason: str, *, actor: int | None) -> None:
    """Break an open exchange and release its people."""
    move_exchange(session, exchange, "broken", actor=actor, reason=reason)


def withdraw_consent(session: Session, donor: Donor, *, actor: int | None) -> list[int]:
    """Withdraw a donor's consent, with immediate effect.

    The donor is withdrawn (so no later run can select them), and every open exchange they are
    in is broken, releasing its other members.

    Returns
    -------
    list of int
        Ids of the exchanges broken.
    """
    if donor.status == "withdrawn":
        return []
    if donor.status == "donated":
        raise TransitionError(f"donor {donor.id} has already donated")
    broken = []
    for exchange in open_exchanges_of(session, [donor.id]):
        break_exchange(session, exchange, "donor withdrew consent", actor=actor)
        broken.append(exchange.id)
    donor.consent_withdrawn_at = dt.datetime.now(dt.UTC)
    move_person(session, donor, "withdrawn", actor=actor, reason="consent withdrawn")
    return broken


def open_exchanges_of(session: Session, ids: Iterable[str]) -> list[Exchange]:
    """Exchanges not yet done or broken that involve any of these people."""
    wanted = set(ids)
    found = session.scalars(select(Exchange).where(Exchange.state.not_in(("done", "broken"))))
    return [e for e in found if wanted & _member_ids(e)]


def _member_ids(exchange: Exchange) -> set[str]:
    out: set[str] = set()
    for t in exchange.transplants:
        out.add(t["donor"])
        out.add(t["patient"])
    if exchange.to_waiting_list:
        out.add(exchange.to_waiting_list)
    return out


def _people(session: Session, exchange: Exchange) -> list[Patient | Donor]:
    """Everyone in the exchange: its donors and patients, and a chain's last donor."""
    out: list[Patient | Donor] = []
    transplants: list[dict[str, Any]] = exchange.transplants
    for t in transplants:
        donor = session.get(Donor, t["donor"])
        patient = session.get(Patient, t["patient"])
        if donor is not None:
            out.append(donor)
        if patient is not None:
            out.append(patient)
    if exchange.to_waiting_list:
        last = session.get(Donor, exchange.to_waiting_list)
        if last is not None:
            out.append(last)
    return out
