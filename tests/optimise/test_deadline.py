"""Solves in a child process that is killed at its deadline (`possible.optimise.deadline`).

The targets below run in the child, which imports this module by name; they stand for a solver
that answers, reports progress, stops when asked, fails, dies, or ignores its clock.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from oracles import packing_problem
from possible.errors import SolverError
from possible.optimise import MipStatus, deadline
from possible.optimise import highs as highs_module
from possible.optimise.highs import HighsBackend

pytestmark = pytest.mark.skipif(not deadline.available(), reason="needs fork and fd passing")


def _add(link: deadline.Link, a: int, b: int) -> tuple[int, int]:
    link.send("half way")
    return a + b, os.getpid()


def _hang(link: deadline.Link) -> None:
    link.send(("best so far", os.getpid()))
    while True:  # a solver deaf to its clock and to cancellation
        time.sleep(1.0)


def _until_cancelled(link: deadline.Link) -> str:
    link.send("started")
    link.cancelled.wait()
    return "stopped"


def _fail(link: deadline.Link) -> None:
    raise ValueError("bad row 3")


def _die(link: deadline.Link) -> None:
    os._exit(9)


def _hang_noting_pid(link: deadline.Link, path: str) -> None:
    Path(path).write_text(str(os.getpid()))
    while True:
        time.sleep(1.0)


class _BrokenEvent(threading.Event):
    """An event whose third look raises, as Ctrl-C would in the caller's loop."""

    def __init__(self) -> None:
        super().__init__()
        self.looks = 0

    def is_set(self) -> bool:
        self.looks += 1
        if self.looks >= 3:
            raise KeyboardInterrupt
        return False


def _pid_in(path: Path) -> int:
    for _ in range(200):
        if path.exists() and path.read_text():
            return int(path.read_text())
        time.sleep(0.05)
    raise AssertionError("the child never wrote its pid")


def _gone(pid: int) -> bool:
    """Wait (up to 10 s) for process `pid` to disappear."""
    for _ in range(200):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_the_answer_comes_back_from_another_process() -> None:
    total, pid = deadline.run(_add, (2, 3), seconds=60.0)  # type: ignore[misc]
    assert total == 5
    assert pid != os.getpid()


def test_a_child_past_its_deadline_is_killed_and_its_last_progress_kept() -> None:
    out = deadline.run(_hang, (), seconds=0.1)
    assert isinstance(out, deadline.Killed)
    label, pid = out.last
    assert label == "best so far"
    assert _gone(pid)


def test_a_cancelled_child_returns_what_it_has() -> None:
    cancel = threading.Event()
    cancel.set()
    assert deadline.run(_until_cancelled, (), seconds=None, cancel=cancel) == "stopped"


def test_at_its_soft_limit_a_child_is_asked_to_stop_unless_run_on_holds() -> None:
    judged: list[object] = []

    def never(last: object) -> bool:
        judged.append(last)
        return False

    assert deadline.run(_until_cancelled, (), seconds=60.0, soft=0.0, run_on=never) == "stopped"
    assert len(judged) == 1
    # Judged at the soft limit itself, not only when the deadline comes.
    assert deadline.run(_until_cancelled, (), seconds=60.0, soft=0.3, run_on=never) == "stopped"
    assert len(judged) == 2
    # Allowed to run on, the child is not asked: it runs to its deadline and is killed there.
    out = deadline.run(_until_cancelled, (), seconds=0.5, soft=0.0, run_on=lambda last: True)
    assert isinstance(out, deadline.Killed)


def test_a_child_deaf_to_cancellation_is_killed() -> None:
    cancel = threading.Event()
    cancel.set()
    out = deadline.run(_hang, (), seconds=None, cancel=cancel)
    assert isinstance(out, deadline.Killed)
    assert _gone(out.last[1])


def test_an_error_in_the_child_is_raised_in_the_caller() -> None:
    with pytest.raises(ValueError, match="bad row 3"):
        deadline.run(_fail, (), seconds=60.0)


def test_a_child_that_dies_without_an_answer_is_an_error() -> None:
    with pytest.raises(SolverError, match="without an answer"):
        deadline.run(_die, (), seconds=60.0)


def test_the_server_is_started_again_if_it_was_killed() -> None:
    server = deadline._get_server()
    server.process.kill()
    server.process.wait()
    assert deadline.run(_add, (1, 1), seconds=60.0)[0] == 2  # type: ignore[index]


@pytest.mark.parametrize("seed", range(4))
def test_a_guarded_highs_solve_equals_one_in_this_process(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    problem = packing_problem(seed, n_cols=40, n_rows=15, integral=True)
    here = HighsBackend().solve(problem, time_limit=60.0)
    monkeypatch.setattr(highs_module, "GUARD_ABOVE_COLUMNS", 0)
    calls: list[object] = []
    real_run = deadline.run

    def counted(*args: object, **kwargs: object) -> object:
        calls.append(args)
        return real_run(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(deadline, "run", counted)
    there = HighsBackend().solve(problem, time_limit=60.0)
    assert calls, "the solve did not go to a child process"
    assert there.status is here.status is MipStatus.OPTIMAL
    assert there.objective == here.objective
    np.testing.assert_array_equal(there.x, here.x)
    # A search for feasibility gives up before HiGHS' unwatched heuristics: it stays here.
    found = HighsBackend().find_feasible(problem, time_limit=60.0)
    assert found.status is MipStatus.FEASIBLE
    assert len(calls) == 1


def test_a_killed_highs_solve_returns_the_last_solution_it_reported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    problem = packing_problem(1, n_cols=40, n_rows=15, integral=True)
    best = HighsBackend().solve(problem)
    ones = np.flatnonzero(best.x > 0.5)
    monkeypatch.setattr(highs_module, "GUARD_ABOVE_COLUMNS", 0)
    monkeypatch.setattr(deadline, "run", lambda *a, **k: deadline.Killed(ones))
    sol = HighsBackend().solve(problem, time_limit=5.0)
    assert sol.status is MipStatus.FEASIBLE
    assert sol.objective == best.objective
    assert np.isnan(sol.bound)
    monkeypatch.setattr(deadline, "run", lambda *a, **k: deadline.Killed(None))
    assert HighsBackend().solve(problem, time_limit=5.0).status is MipStatus.TIME_LIMIT


def test_a_child_does_not_outlive_a_call_that_ends_early(tmp_path: Path) -> None:
    noted = tmp_path / "pid"
    cancel = _BrokenEvent()
    with pytest.raises(KeyboardInterrupt):
        deadline.run(_hang_noting_pid, (str(noted),), seconds=None, cancel=cancel)
    # The child may not have noted its pid before the call ended; if it did, it is gone.
    if noted.exists() and noted.read_text():
        assert _gone(int(noted.read_text()))


def test_a_child_does_not_outlive_its_killed_caller(tmp_path: Path) -> None:
    (tmp_path / "hangs.py").write_text(
        textwrap.dedent(
            """
            import os, time
            from pathlib import Path

            def hang(link, path):
                Path(path).write_text(str(os.getpid()))
                while True:
                    time.sleep(1.0)
            """
        )
    )
    noted = tmp_path / "pid"
    code = (
        f"import sys; sys.path.insert(0, {str(tmp_path)!r}); import hangs; "
        "from possible.optimise import deadline; "
        f"deadline.run(hangs.hang, ({str(noted)!r},), seconds=None)"
    )
    caller = subprocess.Popen([sys.executable, "-c", code])
    try:
        child = _pid_in(noted)
    finally:
        caller.send_signal(signal.SIGKILL)
        caller.wait()
    assert _gone(child)


def test_without_a_child_process_highs_solves_in_this_one(monkeypatch: pytest.MonkeyPatch) -> None:
    problem = packing_problem(2, n_cols=40, n_rows=15, integral=True)
    here = HighsBackend().solve(problem, time_limit=60.0)
    monkeypatch.setattr(highs_module, "GUARD_ABOVE_COLUMNS", 0)

    def unavailable(*args: object, **kwargs: object) -> object:
        raise deadline.UnavailableError("no process to solve in")

    monkeypatch.setattr(deadline, "run", unavailable)
    there = HighsBackend().solve(problem, time_limit=60.0)
    assert there.status is MipStatus.OPTIMAL
    assert there.objective == here.objective
