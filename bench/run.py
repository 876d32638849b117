"""Benchmark ``possible`` against kep_solver on the same instances, one fresh process per solve.

Configurations (caps as ``possible`` counts them; kep_solver's ``maxChainLength`` is one more):

* ``a``: max_cycle 3, max_chain 2, most transplants. kep_solver PICEF and cycle-chain models,
  each with CBC and HiGHS through PuLP, against ``possible``.
* ``b``: max_cycle 3, max_chain 6, most transplants. ``possible`` at every size; kep_solver
  PICEF with HiGHS up to 500 patients.
* ``c``: the UK hierarchy (five levels) at max_cycle 3, max_chain 2, up to 500 patients:
  kep_solver's cycle-chain model (PICEF cannot express these objectives), CBC and HiGHS,
  against ``possible solve --objective uk``.
* ``d``: max_cycle 3, chains of any length (``--max-chain unbounded``), most transplants.
  ``possible`` only: kep_solver's models need a chain cap.

Writes ``bench/results/latest.md`` and ``bench/results/latest.json`` (after every solve, so an
interrupted run leaves what it measured), and keeps kep_solver's rows in
``bench/results/kep_cache.json`` so that ``--reuse-kep`` re-runs only ``possible``. Exits with
status 2 when any optimum differs between the two.

Run with the benchmark's venv::

    bench/.venv/bin/python bench/run.py --quick
    bench/.venv/bin/python bench/run.py --configs a --sizes 1000 2000 --reuse-kep
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from report import build_summary, machine_info, same, write_reports
from solve_one import MemorySampler

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
INSTANCES = HERE / "instances"
SHARED_INSTANCES = Path("/work/shared/instances")
RESULTS = HERE / "results"
KEP_CACHE = RESULTS / "kep_cache.json"
CHILD = HERE / "solve_one.py"
SIZES = (250, 500, 1000, 2000)
QUICK_SIZES = (250, 500)
SEEDS = (1, 2)
KEP_READABLE = (".json",)
POOL_SUFFIX = re.compile(r"\.(json|xml|ya?ml|wmd|dat)(\.gz|\.xz)?$", re.IGNORECASE)


@dataclasses.dataclass(frozen=True)
class Config:
    """One benchmark configuration.

    Attributes
    ----------
    name
        ``a``, ``b`` or ``c``.
    title
        Heading for the report.
    max_cycle, max_chain
        Caps, in transplants inside the pool (kep_solver gets ``max_chain + 1``);
        ``max_chain=None``: chains of any length.
    objective
        ``transplants`` or ``uk``.
    kep_runs
        ``(model, solver)`` pairs run with kep_solver.
    kep_max_patients
        Largest pool kep_solver is run on (``None``: no limit).
    max_patients
        Largest pool the configuration is run on at all (``None``: no limit).
    """

    name: str
    title: str
    max_cycle: int
    max_chain: int | None
    objective: str
    kep_runs: tuple[tuple[str, str], ...]
    kep_max_patients: int | None = None
    max_patients: int | None = None

    @property
    def caps(self) -> str:
        """Caps as shown in the report."""
        if self.max_chain is None:
            return f"{self.max_cycle}/any"
        return f"{self.max_cycle}/{self.max_chain} (kep {self.max_cycle}/{self.max_chain + 1})"

    @property
    def chain_arg(self) -> str:
        """``--max-chain`` as the command lines take it."""
        return "unbounded" if self.max_chain is None else str(self.max_chain)


CONFIGS = {
    "a": Config(
        "a",
        "(a) most transplants, max_cycle 3, max_chain 2",
        3,
        2,
        "transplants",
        (("picef", "cbc"), ("picef", "highs"), ("cc", "cbc"), ("cc", "highs")),
    ),
    "b": Config(
        "b",
        "(b) most transplants, max_cycle 3, max_chain 6",
        3,
        6,
        "transplants",
        (("picef", "highs"),),
        kep_max_patients=500,
    ),
    "c": Config(
        "c",
        "(c) UK hierarchy, max_cycle 3, max_chain 2",
        3,
        2,
        "uk",
        (("cc", "cbc"), ("cc", "highs")),
        kep_max_patients=500,
        max_patients=500,
    ),
    "d": Config(
        "d",
        "(d) most transplants, max_cycle 3, chains of any length",
        3,
        None,
        "transplants",
        (),
        kep_max_patients=0,
    ),
}
MODEL_NAMES = {"picef": "PICEF", "cc": "cycle-chain"}
SOLVER_NAMES = {"cbc": "CBC", "highs": "HiGHS"}


@dataclasses.dataclass(frozen=True)
class Instance:
    """A pool file and what it holds.

    Attributes
    ----------
    name
        File name without extension.
    path
        The file.
    patients, ndds, arcs
        Counts (``None`` when the file could not be counted).
    digest
        First 16 hex digits of the file's SHA-256.
    source
        ``bench`` (drawn by make_instances.py) or ``shared``.
    """

    name: str
    path: Path
    patients: int | None
    ndds: int | None
    arcs: int | None
    digest: str
    source: str

    def fields(self) -> dict[str, Any]:
        """The instance's columns of a result row."""
        return {
            "instance": self.name,
            "path": str(self.path),
            "patients": self.patients,
            "ndds": self.ndds,
            "arcs": self.arcs,
            "digest": self.digest,
            "source": self.source,
        }


def find_instances(
    sizes: Sequence[int], seeds: Sequence[int], *, shared: bool, explicit: Sequence[Path]
) -> list[Instance]:
    """The instances to run: ``bench/instances/uk_{n}_{seed}.json`` and the shared ones.

    Parameters
    ----------
    sizes, seeds
        Which of the drawn instances to take.
    shared
        Also take every file in ``/work/shared/instances`` (whatever its size).
    explicit
        Files given on the command line; when any are given, only they are run.

    Returns
    -------
    list of Instance
        Sorted by number of patients, then name.
    """
    found: list[Instance] = []
    if explicit:
        found = [describe(p, "explicit") for p in explicit]
    else:
        pattern = re.compile(r"^uk_(\d+)_(\d+)$")
        for path in sorted(INSTANCES.glob("uk_*.json")):
            m = pattern.match(path.stem)
            if m and int(m[1]) in sizes and int(m[2]) in seeds:
                found.append(describe(path, "bench"))
        if shared and SHARED_INSTANCES.is_dir():
            found += [
                describe(p, "shared")
                for p in sorted(SHARED_INSTANCES.iterdir())
                if p.is_file() and POOL_SUFFIX.search(p.name)
            ]
    return sorted(found, key=lambda i: (i.patients or 0, i.name))


def describe(path: Path, source: str) -> Instance:
    """Count what a pool file holds.

    kep_solver JSON v1 is counted directly; other formats through ``possible``'s reader.

    Parameters
    ----------
    path
        The file.
    source
        Where it came from (``bench``, ``shared``, ``explicit``).

    Returns
    -------
    Instance
    """
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()[:16]
    patients = ndds = arcs = None
    try:
        doc = json.loads(raw) if path.suffix == ".json" else None
    except ValueError:
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("data"), dict):
        donors = doc["data"].values()
        ndds = sum(1 for d in donors if not d.get("sources"))
        arcs = sum(len(d.get("matches", [])) for d in donors)
        ids = {str(s) for d in donors for s in d.get("sources", [])}
        patients = len(ids | set(doc.get("recipients", {})))
    else:
        try:
            from possible.formats import read_pool

            pool = read_pool(path)
            patients = len(pool.patients)
            ndds = sum(1 for d in pool.donors if d.patient is None)
            arcs = len(pool.arcs)
        except Exception as exc:
            print(f"  ! cannot count {path.name}: {type(exc).__name__}: {exc}", file=sys.stderr)
    return Instance(path.stem, path, patients, ndds, arcs, digest, source)


def run_child(
    command: list[str], timeout: float, stem: str, workdir: Path
) -> tuple[dict[str, Any], float]:
    """Run ``solve_one.py`` in a fresh process group with a time limit and read its row.

    Parameters
    ----------
    command
        Arguments after ``solve_one.py`` (the ``--out`` file is added here).
    timeout
        Seconds before the whole process group (the child and any solver it started) is
        killed.
    stem
        Name for the child's result file.
    workdir
        Where result files go.

    Returns
    -------
    tuple
        The row the child wrote (or one describing the timeout or crash), and the wall
        seconds of the whole child process.
    """
    out = workdir / f"{stem}.json"
    out.unlink(missing_ok=True)
    argv = [sys.executable, str(CHILD), *command, "--out", str(out)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        cwd=ROOT,
    )
    # Watched from here too, coarsely, so that a solve killed at the time limit still says
    # how much memory it had reached.
    with MemorySampler(pid=proc.pid, interval=0.25) as sampler:
        try:
            _, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            proc.communicate()
            return {
                "status": "timeout",
                "error": f"killed after {timeout:g} s",
                "peak_mb": sampler.peak_mb,
                "peak_detail": {"sampled_by_harness_mb": sampler.peak_mb},
            }, timeout
    wall = time.perf_counter() - t0
    if not out.exists():
        tail = " | ".join((err or "").strip().splitlines()[-4:])
        return {"status": "crashed", "error": f"exit {proc.returncode}: {tail}"}, wall
    row: dict[str, Any] = json.loads(out.read_text())
    return row, wall


def _kill_group(proc: subprocess.Popen[str]) -> None:
    # The child leads its own session (start_new_session): its group id is its pid, and the
    # group holds only it and the solver processes it started.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()


class KepCache:
    """kep_solver's rows, keyed by instance digest and configuration, kept between runs.

    Parameters
    ----------
    path
        The cache file (created on the first store).
    kep_version
        kep_solver's version; rows from another version are ignored.
    """

    def __init__(self, path: Path, kep_version: str) -> None:
        self.path = path
        self.kep_version = kep_version
        self.rows: dict[str, dict[str, Any]] = {}
        if path.exists():
            doc = json.loads(path.read_text())
            if doc.get("kep_solver") == kep_version:
                self.rows = doc.get("rows", {})

    @staticmethod
    def key(inst: Instance, cfg: Config, model: str, solver: str) -> str:
        """Cache key: instance digest, caps, objective, model and solver."""
        return (
            f"{inst.digest}|cycle={cfg.max_cycle}|chain={cfg.max_chain}|{cfg.objective}"
            f"|{model}|{solver}"
        )

    def get(self, key: str, timeout: float) -> dict[str, Any] | None:
        """A cached row usable under `timeout` (a timeout under a shorter limit is not)."""
        row = self.rows.get(key)
        if row is None:
            return None
        if row.get("status") == "timeout" and float(row.get("timeout_s", 0)) < timeout:
            return None
        if row.get("status") in ("error", "crashed"):
            return None
        return row

    def put(self, key: str, row: dict[str, Any]) -> None:
        """Store `row` and rewrite the file."""
        self.rows[key] = row
        self.path.parent.mkdir(parents=True, exist_ok=True)
        doc = {"kep_solver": self.kep_version, "rows": self.rows}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc, indent=1, sort_keys=True, allow_nan=True) + "\n")
        tmp.replace(self.path)


def possible_cli_works(exe: Path) -> bool:
    """Whether ``exe solve --help`` runs and offers ``--max-chain``."""
    if not exe.exists():
        return False
    try:
        done = subprocess.run(
            [str(exe), "solve", "--help"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and "--max-chain" in done.stdout


def plan(
    configs: Iterable[Config], instances: Sequence[Instance], tools: Sequence[str]
) -> list[tuple[Config, Instance, str, str, str]]:
    """Every solve to run, in order: per configuration and instance, kep_solver first.

    Parameters
    ----------
    configs
        The configurations.
    instances
        The instances.
    tools
        ``kep`` and/or ``possible``.

    Returns
    -------
    list of tuple
        ``(config, instance, tool, model, solver)``; ``model`` and ``solver`` are empty for
        ``possible``.
    """
    jobs: list[tuple[Config, Instance, str, str, str]] = []
    for cfg in configs:
        for inst in instances:
            n = inst.patients or 0
            if cfg.max_patients is not None and n > cfg.max_patients:
                continue
            kep_ok = inst.path.suffix in KEP_READABLE and (
                cfg.kep_max_patients is None or n <= cfg.kep_max_patients
            )
            if "kep" in tools and kep_ok:
                jobs += [(cfg, inst, "kep", m, s) for m, s in cfg.kep_runs]
            if "possible" in tools:
                jobs.append((cfg, inst, "possible", "", ""))
    return jobs


def label(tool: str, model: str, solver: str, via: str) -> str:
    """How a solver configuration is named in the report."""
    if tool == "kep":
        return f"kep {MODEL_NAMES[model]}/{SOLVER_NAMES[solver]}"
    return "possible" if via == "cli" else "possible (API stand-in)"


def comparable(row: dict[str, Any], inst: Instance, cfg: Config) -> list[float] | None:
    """The objective values to compare, counted the way ``possible`` counts them.

    kep_solver's transplant count adds one for every non-directed donor in the instance (a
    chain's closing gift to the waiting list, or an unused NDD's direct gift), so for the
    transplants objective its value less the instance's NDDs is compared with ``possible``'s
    transplants inside the pool. In the UK hierarchy both count the kep_solver way.

    Parameters
    ----------
    row
        A solved row.
    inst
        Its instance.
    cfg
        Its configuration.

    Returns
    -------
    list of float or None
        ``None`` unless the row is optimal.
    """
    if row.get("status") != "optimal" or not row.get("objective"):
        return None
    values = [float(v) for v in row["objective"]]
    if row["tool"] == "kep" and cfg.objective == "transplants":
        values[0] -= row.get("ndds", inst.ndds) or 0
    return values


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write the reports.

    Parameters
    ----------
    argv
        Command-line arguments (``sys.argv[1:]`` by default).

    Returns
    -------
    int
        0, or 2 when an optimum differs between kep_solver and ``possible``.
    """
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("instances", nargs="*", type=Path, help="run only these files")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), metavar="N")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS), metavar="S")
    parser.add_argument("--configs", nargs="+", choices=sorted(CONFIGS), default=sorted(CONFIGS))
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per solve")
    parser.add_argument("--quick", action="store_true", help="250 and 500 patients only")
    parser.add_argument(
        "--tools", nargs="+", choices=("kep", "possible"), default=["kep", "possible"]
    )
    parser.add_argument("--reuse-kep", action="store_true", help="take kep rows from the cache")
    parser.add_argument(
        "--possible-via",
        choices=("auto", "cli", "api"),
        default="auto",
        help="run possible's CLI, or its Python API as a stand-in (auto: CLI if it works)",
    )
    parser.add_argument(
        "--possible-exe",
        type=Path,
        default=Path(sys.executable).with_name("possible"),
        help="possible's executable (default: the one in this venv)",
    )
    parser.add_argument("--no-shared", action="store_true", help=f"skip {SHARED_INSTANCES}")
    parser.add_argument(
        "--possible-time-limit",
        type=float,
        metavar="S",
        help="pass --time-limit S to possible, so that a solve it cannot finish reports its "
        "best solution and bound (status feasible) instead of being killed at --timeout",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        metavar="N",
        help="solve each instance N times with possible and report the run of median solve "
        "time (all N times are kept); kep_solver runs once per model and solver",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="default: %(default)s")
    args = parser.parse_args(argv)

    sizes = [n for n in args.sizes if n in QUICK_SIZES] if args.quick else args.sizes
    instances = find_instances(
        sizes, args.seeds, shared=not args.no_shared, explicit=args.instances
    )
    if not instances:
        print("no instances: run bench/make_instances.py first", file=sys.stderr)
        return 1
    via = args.possible_via
    if via == "auto" and "possible" in args.tools:
        via = "cli" if possible_cli_works(args.possible_exe) else "api"
        if via == "api":
            print("! `possible solve` is not usable yet: timing the Python API instead")
    machine = machine_info(ROOT)
    cache = KepCache(args.out / KEP_CACHE.name, machine["versions"].get("kep_solver", "?"))
    configs = [CONFIGS[c] for c in args.configs]
    jobs = plan(configs, instances, args.tools)
    print(f"{len(instances)} instances, {len(jobs)} solves, timeout {args.timeout:g} s")
    for inst in instances:
        print(f"  {inst.name:<16} {inst.source:<7} {inst.patients} patients, {inst.ndds} NDDs")

    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    rows: list[dict[str, Any]] = []
    meta = {
        "started": started,
        "options": {
            "sizes": sizes,
            "seeds": args.seeds,
            "configs": args.configs,
            "timeout_s": args.timeout,
            "tools": args.tools,
            "possible_via": via,
            "possible_exe": str(args.possible_exe) if via == "cli" else None,
            "reuse_kep": args.reuse_kep,
            "repeat": args.repeat,
        },
        "machine": machine,
        "configs": {c.name: dataclasses.asdict(c) | {"caps": c.caps} for c in configs},
    }
    mismatches = 0
    with tempfile.TemporaryDirectory(prefix="possible-bench-") as tmp:
        for i, (cfg, inst, tool, model, solver) in enumerate(jobs, 1):
            name = label(tool, model, solver, via)
            key = KepCache.key(inst, cfg, model, solver) if tool == "kep" else ""
            cached = cache.get(key, args.timeout) if tool == "kep" and args.reuse_kep else None
            if cached is not None:
                row = dict(cached) | {"cached": True}
            else:
                command = [
                    tool,
                    str(inst.path),
                    "--max-cycle",
                    str(cfg.max_cycle),
                    "--max-chain",
                    cfg.chain_arg,
                    "--objective",
                    cfg.objective,
                ]
                if tool == "kep":
                    command += ["--model", model, "--solver", solver]
                else:
                    command += ["--via", via, "--exe", str(args.possible_exe)]
                    if args.possible_time_limit is not None:
                        command += ["--time-limit", str(args.possible_time_limit)]
                times = args.repeat if tool == "possible" else 1
                tries = []
                for k in range(times):
                    got, wall = run_child(command, args.timeout, f"row{i}_{k}", Path(tmp))
                    tries.append(got | {"process_s": got.get("process_s", wall)})
                row = median_run(tries) | {
                    "timeout_s": args.timeout,
                    "measured": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                    "cached": False,
                }
            row.pop("pid", None)
            row |= inst.fields() | {
                "config": cfg.name,
                "caps": cfg.caps,
                "max_cycle": cfg.max_cycle,
                "max_chain": cfg.max_chain,
                "kep_max_chain_length": None if cfg.max_chain is None else cfg.max_chain + 1,
                "objective_name": cfg.objective,
                "tool": tool,
                "model": model,
                "solver": row.get("solver") if tool == "possible" else solver,
                "label": name,
            }
            row["compare"] = comparable(row, inst, cfg)
            if tool == "kep" and not row["cached"]:
                # Timeouts are kept too, so a long kep run is not repeated with --reuse-kep.
                cache.put(key, {k: v for k, v in row.items() if k != "cached"})
            rows.append(row)
            mismatches += _print_row(i, len(jobs), row, rows)
            write_reports(args.out, meta | {"rows": rows, "summary": build_summary(rows, configs)})

    meta["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    summary = build_summary(rows, configs)
    md, js = write_reports(args.out, meta | {"rows": rows, "summary": summary})
    print(f"wrote {md.relative_to(ROOT) if md.is_relative_to(ROOT) else md} and {js.name}")
    if mismatches:
        print(f"!!! {mismatches} MISMATCH(ES) between kep_solver and possible: see the report")
        return 2
    return 0


def median_run(tries: list[dict[str, Any]]) -> dict[str, Any]:
    """The run of median solve time among repeated solves of one instance, with all of them.

    Parameters
    ----------
    tries
        The rows of the repeated solves, in the order run.

    Returns
    -------
    dict
        The row whose ``solve_s`` is the lower median (a run that did not finish counts as
        the slowest), with ``repeat_solve_s`` (every run's ``solve_s``, ``None`` for one that
        did not finish) and ``peak_mb``, the largest over the runs. A single run is returned
        as it is.
    """
    if len(tries) == 1:
        return tries[0]

    def seconds(row: dict[str, Any]) -> float:
        value = row.get("solve_s")
        finished = row.get("status") in ("optimal", "feasible") and value is not None
        return float(value) if finished else math.inf

    ranked = sorted(range(len(tries)), key=lambda k: (seconds(tries[k]), k))
    chosen = dict(tries[ranked[(len(tries) - 1) // 2]])
    chosen["repeat_solve_s"] = [None if math.isinf(seconds(row)) else seconds(row) for row in tries]
    peaks = [row["peak_mb"] for row in tries if row.get("peak_mb") is not None]
    if peaks:
        chosen["peak_mb"] = max(peaks)
    return chosen


def _print_row(i: int, total: int, row: dict[str, Any], rows: list[dict[str, Any]]) -> int:
    """Print one progress line; return 1 if this row disagrees with an earlier one."""
    text = f"[{i}/{total}] ({row['config']}) {row['instance']:<14} {row['label']:<24} "
    text += f"{row.get('status', '?'):<8}"
    t = row.get("solve_s")
    if isinstance(t, int | float):
        read = row.get("read_s")
        peak = row.get("peak_mb")
        text += f" solve {t:8.2f} s"
        text += f"  read {read:.2f} s" if isinstance(read, int | float) else ""
        text += f"  peak {peak:6.0f} MB" if isinstance(peak, int | float) else ""
        text += f"  value {row.get('compare')}"
    else:
        text += f" {str(row.get('error', ''))[:100]}"
    if row.get("cached"):
        text += "  (cached)"
    print(text, flush=True)
    mine = row.get("compare")
    if mine is None:
        return 0
    for other in rows[:-1]:
        if (
            other["config"] == row["config"]
            and other["digest"] == row["digest"]
            and other.get("compare") is not None
            and not same(other["compare"], mine)
        ):
            print(
                f"!!! MISMATCH on {row['instance']} ({row['config']}): {row['label']} "
                f"{mine} vs {other['label']} {other['compare']}",
                flush=True,
            )
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
