"""What every route needs: a database session, the signed-in user, their rights, the audit."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session

from possible.registry.db import Database
from possible.registry.models import AuditEvent, User
from possible.service.security import read_token
from possible.service.settings import Settings

__all__ = ["Actor", "SessionDep", "audit", "current_user", "get_session", "require"]

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token")


def get_session(request: Request) -> Iterator[Session]:
    """One session per request, committed when the route returns without error."""
    db: Database = request.app.state.db
    with db.session() as session:
        yield session


DB_CONCURRENCY = 8
"""Requests using the database at once. More wait in the event loop, holding no thread: the
commit runs on a worker thread of its own, so a full thread pool of requests waiting for
connections or for SQLite's write lock would otherwise stall every request."""

SessionDep = Annotated[
    Session, Depends(get_session, scope="function", max_concurrency=DB_CONCURRENCY)
]
"""The request's session, committed before the response is sent (so a client's next request
always sees its writes); one shared limit across all routes."""


@dataclass(frozen=True)
class Actor:
    """The signed-in user, as routes see them."""

    id: int
    username: str
    role: str
    centre_id: str | None
    source: str | None

    def can_see_centre(self, centre_id: str) -> bool:
        """Whether this user may read a person of `centre_id` (their carers and auditors)."""
        return self.role == "auditor" or (
            self.role == "coordinator" and self.centre_id == centre_id
        )


def current_user(
    request: Request,
    token: Annotated[str, Depends(oauth2)],
    session: SessionDep,
) -> Actor:
    """Return the user behind the bearer token; 401 without a valid one."""
    settings: Settings = request.app.state.settings
    user_id = read_token(token, settings.secret_key)
    user = session.get(User, user_id) if user_id is not None else None
    if user is None or not user.active:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "not signed in, or the session has expired",
            headers={"WWW-Authenticate": "Bearer"},
        )
    host = request.client.host if request.client else None
    return Actor(user.id, user.username, user.role, user.centre_id, host)


def require(*roles: str) -> Any:
    """Build a dependency that lets only users with one of `roles` through (403 otherwise)."""

    def check(actor: Annotated[Actor, Depends(current_user)]) -> Actor:
        if actor.role not in roles:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"this needs the role {' or '.join(roles)}"
            )
        return actor

    return Depends(check)


def audit(
    session: Session,
    actor: Actor | None,
    action: str,
    subject_type: str | None = None,
    subject_id: str | None = None,
    **detail: Any,
) -> None:
    """Append an audit event. `detail` holds ids and counts only, never a person's data."""
    session.add(
        AuditEvent(
            actor_id=None if actor is None else actor.id,
            actor=None if actor is None else actor.username,
            action=action,
            subject_type=subject_type,
            subject_id=subject_id,
            source=None if actor is None else actor.source,
            detail=detail,
        )
    )
