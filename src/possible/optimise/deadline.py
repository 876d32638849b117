"""Hold a solver to its deadline by running it in a process that can be killed.

HiGHS stops at its time limit in most of what it does, but not everywhere: its MIP presolve on
very large models, feasibility jump and, at the root of every MIP, *central rounding* check
neither the time limit nor the interrupt callback (see ``docs/engine.md``, *HiGHS 1.16 limits
met*). On level 3 of the UK hierarchy at 2,000 patients central rounding ran on more than 500 s
past a 300 s limit. No option of HiGHS bounds it, and a thread cannot stop C code, so the only
way to keep a promised time limit is a process that can be killed.

:func:`run` calls a function in a child process. The child reports what it finds along the way
(:meth:`Link.send`), so a child killed at its deadline still leaves the best it had found; the
caller can ask the child to stop early (:attr:`Link.cancelled`), as it would stop a solver in
its own process.

Children are forked from a small server process, started at the first call, which has
already imported the solver, so later children start in milliseconds rather than the 0.7 s a
fresh interpreter needs for its imports. The server is a fresh interpreter that imports only
:data:`PRELOAD`, never the caller's main script, so scripts need no ``if __name__ ==
"__main__"`` guard (as :mod:`multiprocessing`'s spawn and forkserver would require). It runs no
threads, so forking it is safe. Where :func:`os.fork` or descriptor passing is missing
(Windows), :func:`available` is false and callers solve in their own process.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from typing import Any, Generic, TypeVar

from possible.errors import SolverError

__all__ = ["GRACE_SECONDS", "GRACE_SHARE", "Killed", "Link", "UnavailableError", "available", "run"]

logger = logging.getLogger(__name__)

R = TypeVar("R")

GRACE_SECONDS = 2.0
"""Seconds a child may run past its deadline before it is killed, plus :data:`GRACE_SHARE` of
the time it was given. HiGHS normally returns within a fraction of a second of its time limit;
the grace is for that, and for handing back its answer, so that only a solver stuck where it
does not look at the clock is killed."""
GRACE_SHARE = 0.02
"""Share of the time given that is added to :data:`GRACE_SECONDS`."""
PRELOAD = ("possible.optimise.highs",)
"""Modules the server imports once, so that each child starts with them loaded."""

_server_lock = threading.Lock()
_server: _Server | None = None


def available() -> bool:
    """Tell whether solves can run in a child process here (POSIX with descriptor passing)."""
    return hasattr(os, "fork") and hasattr(socket, "send_fds")


class UnavailableError(SolverError):
    """No child process could be started or reached: the caller may solve in its own."""


class Killed(Generic[R]):
    """What :func:`run` returns when the child was killed at its deadline.

    Attributes
    ----------
    last
        The last message the child sent (:meth:`Link.send`) before it was killed, or ``None``.
    """

    __slots__ = ("last",)

    def __init__(self, last: Any) -> None:
        self.last = last


class Link:
    """The child's side of :func:`run`: report progress, and learn when to stop.

    Parameters
    ----------
    out
        The pipe to the parent.
    inbox
        The pipe on which the parent asks the child to stop.
    """

    def __init__(self, out: Connection, inbox: Connection) -> None:
        self._out = out
        self.cancelled = threading.Event()
        """Set once the parent asks the child to stop (or is gone)."""
        threading.Thread(
            target=self._watch, args=(inbox,), name="possible-cancel", daemon=True
        ).start()

    def _watch(self, inbox: Connection) -> None:
        try:
            inbox.recv()  # "cancel"
        except (EOFError, OSError):
            # The parent has gone (killed, or its call ended without waiting): stop, and
            # leave even if the solver does not listen, so that no solve outlives its caller.
            self.cancelled.set()
            time.sleep(GRACE_SECONDS)
            os._exit(1)
        self.cancelled.set()

    def send(self, message: Any) -> None:
        """Send `message` (anything picklable) to the parent, as the latest progress."""
        self._out.send(("progress", message))


class _Server:
    """The process children are forked from, and the socket that asks it for one."""

    def __init__(self) -> None:
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        code = f"from possible.optimise.deadline import _serve; _serve({theirs.fileno()})"
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        self.process = subprocess.Popen(  # our own interpreter and code
            [sys.executable, "-c", code],
            pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL,
            env=env,
            # Its own session: Ctrl-C in a terminal interrupts the caller, which then stops
            # its children itself, and not the server under it.
            start_new_session=True,
        )
        theirs.close()
        self.socket = mine

    def close(self) -> None:
        """Let the server go (it ends when its socket closes) and wait for it."""
        self.socket.close()
        try:
            self.process.wait(timeout=GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def fork(self, job: int, out: int) -> None:
        """Ask the server for a child reading its job from `job` and answering on `out`."""
        socket.send_fds(self.socket, [b"j"], [job, out])


def _serve(fd: int) -> None:
    """Fork a child for each request on `fd`, until the parent goes (the server's loop)."""
    import importlib

    for name in PRELOAD:
        importlib.import_module(name)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the system
    requests = socket.socket(fileno=fd)
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(requests, 1, 2)
        except OSError:
            return
        if not message:  # the parent has gone
            return
        if os.fork() == 0:
            requests.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            code = 0
            try:
                _child(fds[0], fds[1])
            except BaseException:  # a child must never return into the loop
                code = 1
            finally:
                os._exit(code)
        for one in fds:
            os.close(one)


def _child(job_fd: int, out_fd: int) -> None:
    """Run the job read from `job_fd`, sending progress and the answer to `out_fd`."""
    out = Connection(out_fd, readable=False)
    inbox = Connection(job_fd, writable=False)
    out.send(("pid", os.getpid()))
    target, args = inbox.recv()
    link = Link(out, inbox)
    try:
        result = target(link, *args)
    except BaseException as error:  # every failure goes back to the parent
        try:
            out.send(("error", error))
        except Exception:  # an error that cannot be pickled
            out.send(("error", SolverError(f"{type(error).__name__}: {error}")))
        return
    out.send(("result", result))


def _get_server(*, failed: _Server | None = None) -> _Server:
    """Return the server, starting one if there is none, it has ended, or it is `failed`.

    A server another thread has just started in place of `failed` is kept.
    """
    global _server
    with _server_lock:
        if _server is not None and (_server is failed or _server.process.poll() is not None):
            _server.close()
            _server = None
        if _server is None:
            atexit.register(_stop_server)
            _server = _Server()
        return _server


def _stop_server() -> None:
    global _server
    atexit.unregister(_stop_server)
    with _server_lock:
        if _server is not None:
            _server.close()
            _server = None


def _start(target: Callable[..., Any], args: tuple[Any, ...]) -> tuple[Connection, Connection]:
    """Fork a child for ``target(link, *args)``; return its job and answer pipes.

    Raises
    ------
    UnavailableError
        If no server could be started or reached, twice.
    """
    failed: _Server | None = None
    for attempt in range(2):
        job_r, job_w = os.pipe()
        out_r, out_w = os.pipe()
        job = Connection(job_w, readable=False)
        answers = Connection(out_r, writable=False)
        server: _Server | None = None
        try:
            server = _get_server(failed=failed)
            try:
                server.fork(job_r, out_w)
            finally:
                os.close(job_r)
                os.close(out_w)
            job.send((target, args))
        except OSError as error:  # the server has gone, or could not start
            job.close()
            answers.close()
            if attempt:
                raise UnavailableError(f"no process to solve in ({error})") from error
            failed = server
            continue
        return job, answers
    raise AssertionError("unreachable")


def run(
    target: Callable[..., R],
    args: tuple[Any, ...],
    *,
    seconds: float | None,
    cancel: threading.Event | None = None,
    soft: float | None = None,
    run_on: Callable[[Any], bool] | None = None,
) -> R | Killed[R]:
    """Call ``target(link, *args)`` in a child process, killing it if it overruns.

    Parameters
    ----------
    target
        A module-level function (the child imports it by name). Its first argument is the
        child's :class:`Link`.
    args
        Its other arguments; they are pickled to the child.
    seconds
        The time the child is given. It is killed :data:`GRACE_SECONDS` plus
        :data:`GRACE_SHARE` of this later if it has not returned. ``None``: no deadline.
    cancel
        Once set, the child is asked to stop (its :attr:`Link.cancelled` is set); it is then
        expected to return what it has, and is killed after :data:`GRACE_SECONDS` if it does
        not.
    soft, run_on
        After `soft` seconds the child is asked to stop as if `cancel` were set, unless
        ``run_on(last)`` holds for the last progress it sent (``None`` if none): it then has
        until `seconds`.

    Returns
    -------
    R or Killed
        What `target` returned, or :class:`Killed` with the last progress it sent.

    Raises
    ------
    UnavailableError
        If no child could be started (the caller may then solve in its own process).
    SolverError
        If the child ended without an answer (for instance killed by the system for memory).
    Exception
        What `target` raised in the child, raised again here.
    """
    began = time.monotonic()
    job, answers = _start(target, args)
    limit = None if seconds is None else began + seconds + GRACE_SECONDS + GRACE_SHARE * seconds
    soft_at = None if soft is None else began + soft
    due = None if seconds is None else began + seconds  # when the child should have returned
    pid: int | None = None
    last: Any = None
    asked = False
    answered = False
    try:
        while True:
            now = time.monotonic()
            # As at the limit, progress already sent is read before the child is judged.
            if soft_at is not None and now >= soft_at and not answers.poll():
                soft_at = None
                stop_now = run_on is None or not run_on(last)
            else:
                stop_now = False
            if (stop_now or (cancel is not None and cancel.is_set())) and not asked:
                asked = True
                due = now if due is None else min(due, now)
                with contextlib.suppress(OSError):
                    job.send("cancel")
                limit = min(math.inf if limit is None else limit, now + GRACE_SECONDS)
            # Past the limit, messages already sent are read first, and a child that has not
            # yet said which process it is gets a grace to do so.
            if limit is not None and now >= limit and not answers.poll():
                if pid is not None or now >= limit + GRACE_SECONDS:
                    logger.warning(
                        "solver process ran %.1f s past its time and was killed",
                        now - (began if due is None else due),
                    )
                    return Killed(last)  # killed on the way out, below
                timeout: float | None = max(limit + GRACE_SECONDS - now, 0.0)
            else:
                timeout = None if limit is None else max(limit - now, 0.0)
            if cancel is not None and not asked:
                timeout = 0.05 if timeout is None else min(timeout, 0.05)
            if soft_at is not None:
                until_soft = max(soft_at - now, 0.0)
                timeout = until_soft if timeout is None else min(timeout, until_soft)
            if not wait([answers], timeout=timeout):
                continue
            try:
                kind, payload = answers.recv()
            except EOFError:
                if pid is None:  # the request was lost with its server
                    raise UnavailableError("the solver process never started") from None
                raise SolverError(
                    "the solver process ended without an answer (killed by the system?)"
                ) from None
            if kind == "pid":
                pid = payload
            elif kind == "progress":
                last = payload
            else:
                answered = True
                if kind == "result":
                    return payload  # type: ignore[no-any-return]
                raise payload
    finally:
        if not answered and pid is not None:
            # Past its deadline, or left early (an error here, Ctrl-C): the child must not
            # outlive the call.
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        job.close()
        answers.close()
