"""Signing in, centres, users and the audit trail."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.security import OAuth2PasswordRequestForm
from sqlalchemy import func, select

from possible.registry.models import AuditEvent, Centre, User
from possible.service.deps import Actor, SessionDep, audit, current_user, require
from possible.service.schemas import Centre as CentreSchema
from possible.service.schemas import Page, Token, UserIn, UserOut
from possible.service.security import hash_password, issue_token, verify_password
from possible.service.settings import Settings

__all__ = ["router"]

router = APIRouter()


@router.post("/auth/token", response_model=Token)
def sign_in(
    request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()], session: SessionDep
) -> Token:
    """Exchange a user name and password for a short-lived access token."""
    settings: Settings = request.app.state.settings
    host = request.client.host if request.client else "?"
    key = f"{form.username}|{host}"
    limiter = request.app.state.login_limiter
    if limiter.blocked(key):
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS, "too many failed sign-ins: wait a few minutes"
        )
    user = session.scalar(select(User).where(User.username == form.username))
    if user is None or not user.active or not verify_password(user.password_hash, form.password):
        limiter.failed(key)
        session.add(
            AuditEvent(action="sign_in_failed", actor=form.username[:100], source=host, detail={})
        )
        session.commit()
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "wrong user name or password",
            headers={"WWW-Authenticate": "Bearer"},
        )
    limiter.succeeded(key)
    actor = Actor(user.id, user.username, user.role, user.centre_id, host)
    audit(session, actor, "sign_in")
    return Token(
        access_token=issue_token(user.id, settings.secret_key, settings.token_minutes),
        expires_in=settings.token_minutes * 60,
        role=user.role,
        centre=user.centre_id,
    )


@router.get("/me", response_model=UserOut)
def me(actor: Annotated[Actor, Depends(current_user)], session: SessionDep) -> User:
    """Return the signed-in user."""
    user = session.get(User, actor.id)
    assert user is not None
    return user


@router.get("/centres", response_model=list[CentreSchema])
def list_centres(
    actor: Annotated[Actor, Depends(current_user)], session: SessionDep
) -> list[Centre]:
    """Every transplant centre of the programme."""
    return list(session.scalars(select(Centre).order_by(Centre.id)))


@router.post("/centres", response_model=CentreSchema, status_code=status.HTTP_201_CREATED)
def create_centre(
    body: CentreSchema, actor: Annotated[Actor, require("admin")], session: SessionDep
) -> Centre:
    """Add a transplant centre."""
    if session.get(Centre, body.id) is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"centre {body.id!r} already exists")
    row = Centre(id=body.id, name=body.name)
    session.add(row)
    audit(session, actor, "create", "centre", body.id)
    return row


@router.get("/users", response_model=list[UserOut])
def list_users(
    actor: Annotated[Actor, require("admin", "auditor")], session: SessionDep
) -> list[User]:
    """Every user."""
    return list(session.scalars(select(User).order_by(User.id)))


@router.post("/users", response_model=UserOut, status_code=status.HTTP_201_CREATED)
def create_user(
    body: UserIn, actor: Annotated[Actor, require("admin")], session: SessionDep
) -> User:
    """Add a user; a coordinator belongs to a centre, other roles to none."""
    if (body.role == "coordinator") != (body.centre_id is not None):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_ENTITY,
            "a coordinator, and only a coordinator, has a centre_id",
        )
    if body.centre_id is not None and session.get(Centre, body.centre_id) is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, f"no centre {body.centre_id!r}")
    if session.scalar(select(User).where(User.username == body.username)) is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"user {body.username!r} already exists")
    row = User(
        username=body.username,
        password_hash=hash_password(body.password),
        role=body.role,
        centre_id=body.centre_id,
    )
    session.add(row)
    session.flush()
    audit(session, actor, "create", "user", str(row.id))
    return row


@router.get("/audit-events")
def list_audit(
    actor: Annotated[Actor, require("auditor")],
    session: SessionDep,
    subject_id: str | None = None,
    action: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Page[dict[str, Any]]:
    """List the audit trail, newest first (auditors only)."""
    query = select(AuditEvent)
    if subject_id:
        query = query.where(AuditEvent.subject_id == subject_id)
    if action:
        query = query.where(AuditEvent.action == action)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(AuditEvent.id.desc()).limit(limit).offset(offset))
    items = [
        {
            "id": r.id,
            "at": r.at.isoformat(),
            "actor": r.actor,
            "action": r.action,
            "subject_type": r.subject_type,
            "subject_id": r.subject_id,
            "source": r.source,
            "detail": r.detail,
        }
        for r in rows
    ]
    audit(session, actor, "list", "audit_event", None, count=len(items))
    return Page[dict[str, Any]](items=items, total=int(total), limit=limit, offset=offset)
