"""The FastAPI application: built by :func:`create_app` from :class:`Settings`."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from possible.errors import PossibleError
from possible.registry.db import Database
from possible.registry.lifecycle import TransitionError
from possible.registry.models import MatchRun
from possible.registry.runs import execute_run
from possible.service import matching, people, programme
from possible.service.security import LoginLimiter
from possible.service.settings import Settings

__all__ = ["Worker", "create_app"]

logger = logging.getLogger(__name__)

WEB = Path(__file__).parent / "web"
"""The web app's files (HTML, JavaScript, CSS), served at ``/`` and ``/static``."""


class Worker:
    """Runs matching runs one at a time, off the request threads."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="possible-match")
        self._futures: list[Future[None]] = []
        self._lock = threading.Lock()

    def submit(self, run_id: int) -> Future[None]:
        """Queue a run."""
        future = self._pool.submit(self._run, run_id)
        with self._lock:
            self._futures.append(future)
        return future

    def _run(self, run_id: int) -> None:
        try:
            execute_run(self.db, run_id)
        except Exception:  # execute_run records failures itself; this is a last resort
            logger.exception("matching run %s crashed", run_id)

    def wait(self) -> None:
        """Block until every queued run has finished (for tests and shutdown)."""
        while True:
            with self._lock:
                pending = [f for f in self._futures if not f.done()]
            if not pending:
                return
            for f in pending:
                f.result()

    def shutdown(self) -> None:
        """Finish the queued runs and stop."""
        self._pool.shutdown(wait=True)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the service: open the database, apply migrations, start the matching worker.

    Raises
    ------
    RuntimeError
        In production with the default secret.
    """
    settings = settings or Settings()
    settings.check()
    db = Database(settings.database_url)
    db.migrate()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        _resume(db, app.state.worker)
        yield
        app.state.worker.shutdown()
        db.dispose()

    app = FastAPI(
        title="possible",
        version="0.1.0",
        description="Kidney paired exchange: registry, matching runs and exchanges.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.db = db
    app.state.worker = Worker(db)
    app.state.login_limiter = LoginLimiter(settings.login_attempts, settings.login_window_seconds)
    for router in (programme.router, people.router, matching.router):
        app.include_router(router, prefix="/api/v1")
    app.mount("/static", StaticFiles(directory=WEB), name="static")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(WEB / "index.html")

    @app.exception_handler(StaleDataError)
    async def stale(_: Request, __: StaleDataError) -> JSONResponse:
        return JSONResponse(
            {"detail": "changed by someone else meanwhile: reload and apply again"}, 409
        )

    @app.exception_handler(TransitionError)
    async def transition(_: Request, err: TransitionError) -> JSONResponse:
        return JSONResponse({"detail": str(err)}, 409)

    @app.exception_handler(PossibleError)
    async def possible_error(_: Request, err: PossibleError) -> JSONResponse:
        body: dict[str, Any] = {"detail": str(err)}
        if len(err.lines()) > 1:  # every problem found, so that all can be fixed at once
            body["problems"] = err.lines()
        return JSONResponse(body, 422)

    return app


def _resume(db: Database, worker: Worker) -> None:
    """Queue again the runs a previous process left unfinished (nothing is lost on restart)."""
    with db.session() as session:
        rows = list(
            session.scalars(select(MatchRun).where(MatchRun.status.in_(("queued", "running"))))
        )
        for row in rows:
            row.status = "queued"
            row.progress = "resumed after a restart"
        ids = [r.id for r in rows]
    for run_id in ids:
        worker.submit(run_id)
