"""One solve in a fresh process, measured: the child that ``bench/run.py`` starts for every row.

Two tools::

    python bench/solve_one.py kep FILE --model picef --solver highs --max-cycle 3 --max-chain 2 \\
        --objective transplants --out row.json
    python bench/solve_one.py possible FILE --via cli --max-cycle 3 --max-chain 2 \\
        --objective transplants --out row.json

Caps are given the way ``possible`` counts them: ``--max-chain`` is transplants inside the pool,
and kep_solver is called with ``maxChainLength = max_chain + 1`` (it counts the non-directed
donor). The row written to ``--out`` holds the status, objective values, seconds spent reading
and solving (Python start-up and imports excluded), and the peak resident memory of the
process that solved, including any solver subprocess (PuLP runs CBC as one).

``--via cli`` runs ``possible solve FILE ... --json`` as a subprocess of this one and takes its
phase timings and peak memory from it; ``--via api`` calls ``possible``'s Python API here (a
stand-in while the CLI is not there).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

KEP_UK_ALT_EMBED = 2
"""kep_solver's ``build_alt_embed`` for the UK hierarchy: the embedded exchanges NHSBT expects."""


def peak_rss_mb(who: str) -> float | None:
    """Peak resident set size, in MB, of this process or of its largest waited-for child.

    On Linux a child's figure is at least this process's size when it forked (the high-water
    mark survives ``exec``), so for a child started by a large process it overstates; the
    :class:`MemorySampler` figure does not have that problem.

    Parameters
    ----------
    who
        ``"self"`` or ``"children"``.

    Returns
    -------
    float or None
        Megabytes (10**6 bytes), or ``None`` where the platform cannot tell.
    """
    try:
        import resource
    except ImportError:  # Windows: psutil knows this process's peak working set only.
        if who != "self":
            return None
        import psutil

        info = psutil.Process().memory_info()
        return float(getattr(info, "peak_wset", info.rss)) / 1e6
    usage = resource.getrusage(resource.RUSAGE_SELF if who == "self" else resource.RUSAGE_CHILDREN)
    # ru_maxrss is in kilobytes on Linux and the BSDs, in bytes on macOS.
    scale = 1.0 if sys.platform == "darwin" else 1024.0
    return usage.ru_maxrss * scale / 1e6


class MemorySampler:
    """Samples, in a thread, the resident memory of this process and all its descendants.

    The peak of the *sum* is what a solve needs from the machine at once (the Python process
    holding the model plus, for CBC, the solver subprocess). Sampling can miss a spike
    shorter than the interval, so callers take the larger of this and ``ru_maxrss``.

    Parameters
    ----------
    pid
        The process to watch with its descendants (default: this one).
    interval
        Seconds between samples.
    include_self
        Count the watched process too (``False`` when it only waits for a child that does the
        work).
    """

    def __init__(
        self, *, pid: int | None = None, interval: float = 0.02, include_self: bool = True
    ) -> None:
        import psutil

        self._me = psutil.Process(pid)
        self._interval = interval
        self._include_self = include_self
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="memory-sampler", daemon=True)
        self.peak_bytes = 0
        self.peak_children_bytes = 0

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    @property
    def peak_mb(self) -> float:
        """Largest sampled total, in MB."""
        return self.peak_bytes / 1e6

    @property
    def peak_children_mb(self) -> float:
        """Largest sampled total of the descendants alone, in MB."""
        return self.peak_children_bytes / 1e6

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._sample()

    def _sample(self) -> None:
        import psutil

        children = 0
        try:
            kids = self._me.children(recursive=True)
        except psutil.Error:
            kids = []
        for kid in kids:
            try:
                children += kid.memory_info().rss
            except psutil.Error:
                continue
        try:
            own = self._me.memory_info().rss if self._include_self else 0
        except psutil.Error:  # the watched process has ended
            own = 0
        total = children + own
        self.peak_bytes = max(self.peak_bytes, total)
        self.peak_children_bytes = max(self.peak_children_bytes, children)


def solve_kep(args: argparse.Namespace) -> dict[str, Any]:
    """Solve with kep_solver and describe the outcome.

    Parameters
    ----------
    args
        Parsed command line (``file``, ``model``, ``solver``, caps, ``objective``).

    Returns
    -------
    dict
        The row: ``status``, ``objective`` (list, kep_solver's own counting), ``read_s``,
        ``solve_s``, ``transplants_in_pool`` and ``ndds`` (from the instance), model size and
        kep_solver's own step times.
    """
    if args.max_chain is None:
        raise ValueError("kep_solver's models need a chain cap")
    import pulp
    from kep_solver.fileio import read_json
    from kep_solver.model import (
        PICEF,
        BackArcs,
        CycleAndChainModel,
        EffectiveTwoWay,
        ThreeWay,
        TransplantCount,
        UKScore,
    )
    from kep_solver.solving import SolvingOptions

    models = {"picef": PICEF, "cc": CycleAndChainModel}
    solver = pulp.PULP_CBC_CMD(msg=False) if args.solver == "cbc" else pulp.HiGHS(msg=False)
    if args.objective == "uk":
        objectives = [EffectiveTwoWay(), TransplantCount(), ThreeWay(), BackArcs(), UKScore()]
        alt_embed = KEP_UK_ALT_EMBED
    else:
        objectives = [TransplantCount()]
        alt_embed = 0

    t0 = time.perf_counter()
    instance = read_json(str(args.file))
    read_s = time.perf_counter() - t0
    ndds = sum(1 for d in instance.allDonors() if d.NDD)

    t0 = time.perf_counter()
    model = models[args.model](
        instance,
        objectives,
        maxCycleLength=args.max_cycle,
        maxChainLength=args.max_chain + 1,
        build_alt_embed=alt_embed,
    )
    selected, stats, _ = model.solve(solvingOptions=SolvingOptions(solver=solver))
    solve_s = time.perf_counter() - t0

    in_pool = sum(len(e) - 1 if e.chain else len(e) for e in selected)
    return {
        "status": "optimal",
        "objective": [float(v) for v in model.objective_values],
        "read_s": read_s,
        "solve_s": solve_s,
        "ndds": ndds,
        "transplants_in_pool": in_pool,
        "exchanges": len([e for e in selected if not e.chain or len(e) > 1]),
        "model_size": [
            {"variables": lv.num_variables, "constraints": lv.num_constraints}
            for lv in stats.levels
        ],
        # kep_solver times its steps with time.thread_time(): CPU seconds of the Python
        # thread, so CBC's subprocess time is not in them. Kept for reference only.
        "kep_thread_times": {s.description: round(s.time, 4) for s in stats.times},
        "alt_embed": alt_embed,
    }


def solve_possible_cli(args: argparse.Namespace) -> dict[str, Any]:
    """Solve with ``possible solve FILE ... --json`` in a subprocess and describe the outcome.

    Parameters
    ----------
    args
        Parsed command line (``file``, caps, ``objective``, ``exe``).

    Returns
    -------
    dict
        The row: ``status``, ``objective`` (list), ``bound``, ``read_s`` and ``solve_s`` from the
        CLI's own phase timings, ``process_s`` (the subprocess's whole wall time, start-up
        included), ``timings``, ``transplants_in_pool``.
    """
    exe = args.exe or _possible_exe()
    command = [
        exe,
        "solve",
        str(args.file),
        "--max-cycle",
        str(args.max_cycle),
        "--max-chain",
        "unbounded" if args.max_chain is None else str(args.max_chain),
        "--objective",
        args.objective,
        "--json",
    ]
    if args.time_limit is not None:
        command += ["--time-limit", str(args.time_limit)]
    t0 = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    process_s = time.perf_counter() - t0
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise RuntimeError(f"possible exited with {done.returncode}: " + " | ".join(tail))
    doc = json.loads(done.stdout)
    timings = {k: float(v) for k, v in doc.get("timings", {}).items()}
    read_s = timings.get("read", math.nan)
    if "total" in timings:
        solve_s = timings["total"] - timings.get("read", 0.0)
    else:
        solve_s = sum(v for k, v in timings.items() if k != "read")
    return _possible_row(doc) | {
        "read_s": read_s,
        "solve_s": solve_s,
        "process_s": process_s,
        "timings": timings,
        "command": " ".join(command[1:]),
    }


def solve_possible_api(args: argparse.Namespace) -> dict[str, Any]:
    """Solve with ``possible``'s Python API in this process (stand-in for the CLI).

    Parameters
    ----------
    args
        Parsed command line (``file``, caps, ``objective``).

    Returns
    -------
    dict
        The row, as :func:`solve_possible_cli` gives it (``read_s`` and ``solve_s`` measured
        here around ``read_pool`` and ``solve``).
    """
    from possible.formats import read_pool

    try:
        from possible import solve  # type: ignore[attr-defined]
    except ImportError:
        from possible.optimise import solve

    t0 = time.perf_counter()
    pool = read_pool(args.file)
    read_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = solve(
        pool,
        max_cycle=args.max_cycle,
        max_chain=args.max_chain,
        objective=args.objective,
        time_limit=args.time_limit,
    )
    doc = result.to_dict()
    solve_s = time.perf_counter() - t0
    timings = {k: float(v) for k, v in doc.get("timings", {}).items()}
    return _possible_row(doc) | {"read_s": read_s, "solve_s": solve_s, "timings": timings}


def _possible_row(doc: dict[str, Any]) -> dict[str, Any]:
    exchanges = doc.get("exchanges", [])
    in_pool = doc.get("transplants")
    if in_pool is None:
        in_pool = sum(int(e.get("length", len(e.get("transplants", [])))) for e in exchanges)
    return {
        "status": doc.get("status", "?"),
        "objective": [math.nan if v is None else float(v) for v in doc.get("objective", [])],
        "bound": [math.nan if v is None else float(v) for v in doc.get("bound", [])],
        "transplants_in_pool": in_pool,
        "exchanges": len(exchanges),
        "solver": doc.get("solver"),
    }


def _possible_exe() -> str:
    beside = Path(sys.executable).with_name("possible")
    if beside.exists():
        return str(beside)
    found = shutil.which("possible")
    if found is None:
        raise RuntimeError("no `possible` executable beside this python or on PATH")
    return found


def main(argv: list[str] | None = None) -> int:
    """Run one solve and write its row as JSON to ``--out``.

    Parameters
    ----------
    argv
        Command-line arguments (``sys.argv[1:]`` by default).

    Returns
    -------
    int
        0 when a row was written (even for a failed solve: the row says so).
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tool", choices=("kep", "possible"))
    parser.add_argument("file", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--max-cycle", type=int, default=3)
    parser.add_argument(
        "--max-chain",
        type=lambda text: None if text == "unbounded" else int(text),
        default=2,
        help="transplants in the pool, or 'unbounded' (possible only)",
    )
    parser.add_argument("--objective", choices=("transplants", "uk"), default="transplants")
    parser.add_argument("--model", choices=("picef", "cc"), default="picef", help="kep only")
    parser.add_argument("--solver", choices=("cbc", "highs"), default="highs", help="kep only")
    parser.add_argument("--via", choices=("cli", "api"), default="cli", help="possible only")
    parser.add_argument("--exe", help="possible's executable (default: beside this python)")
    parser.add_argument(
        "--time-limit", type=float, help="possible only: its own --time-limit, in seconds"
    )
    args = parser.parse_args(argv)

    cli = args.tool == "possible" and args.via == "cli"
    with MemorySampler(include_self=not cli) as sampler:
        try:
            if args.tool == "kep":
                row = solve_kep(args)
            elif cli:
                row = solve_possible_cli(args)
            else:
                row = solve_possible_api(args)
        except Exception as exc:  # the row records any failure; the harness goes on
            row = {
                "status": "error",
                "error": f"{type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc(limit=8),
            }
    own = peak_rss_mb("self") or 0.0
    if cli:
        # The CLI process did all the work; this wrapper only waited for it (and was small
        # when it forked, so the child's ru_maxrss is the CLI's own).
        children = peak_rss_mb("children") or 0.0
        row["peak_mb"] = max(children, sampler.peak_mb)
        row["peak_detail"] = {"possible_maxrss_mb": children, "sampled_mb": sampler.peak_mb}
    else:
        # This process holds the model while a solver subprocess (PuLP's CBC) runs: the
        # sampled sum of both is the peak; ru_maxrss covers a spike the sampler missed.
        row["peak_mb"] = max(own, sampler.peak_mb)
        row["peak_detail"] = {
            "python_maxrss_mb": own,
            "sampled_total_mb": sampler.peak_mb,
            "sampled_subprocess_mb": sampler.peak_children_mb,
        }
    row["pid"] = os.getpid()
    args.out.write_text(json.dumps(row, indent=1, allow_nan=True) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
