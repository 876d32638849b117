"""Time ``build_arcs`` on clinical pools: the 2000-patient pool must take under 2 s.

For each size, a child process (so that each size's peak memory is its own) draws
``clinical_pool(n, seed=S)`` (not timed), then times:

* **first build s**: the process's first ``build_arcs(pool)``, with the HLA name caches
  cold, as a command-line run meets it; the target is judged on it;
* **build s**: ``build_arcs(pool)`` on the drawn pool, best of ``--repeat`` (3) after that;
* **read s**: ``possible.read_pool(path)`` of the pool written with ``write_pool_json`` to a
  temporary directory, best of ``--repeat``;
* **read + build s**: reading that file and building its arcs, best of ``--repeat``.

Peak RSS is the child's ``resource.getrusage`` maximum at the end (it includes drawing the
pool; the peak right after the draw is shown as well).

Writes ``bench/results/arcs.md`` and ``bench/results/arcs.json``. Run with the repository's
venv, from the repository::

    .venv/bin/python bench/arcs.py
    .venv/bin/python bench/arcs.py --sizes 500 2000 --repeat 5
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
SIZES = (500, 1000, 2000, 4000)
SEED = 1
REPEAT = 3
TARGET_PATIENTS = 2000
TARGET_SECONDS = 2.0


def peak_rss_mb() -> float:
    """Largest resident memory of this process so far, in MB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports kilobytes, macOS bytes.
    return peak / 1e6 if sys.platform == "darwin" else peak / 1e3


def best_of(repeat: int, fn: Any) -> tuple[float, Any]:
    best = float("inf")
    out = None
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def measure(n: int, seed: int, repeat: int, tmp: Path) -> dict[str, Any]:
    """Draw one pool and time building its arcs, from memory and from a file."""
    import possible
    from possible.compatibility import build_arcs
    from possible.formats import write_pool_json
    from possible.generate.clinical import clinical_pool

    t0 = time.perf_counter()
    pool = clinical_pool(n, seed=seed)
    generate_s = time.perf_counter() - t0
    peak_after_draw = peak_rss_mb()

    # A nomenclature of its own, so that nothing the drawing read is remembered.
    from possible.hla.nomenclature import nomenclature

    fresh = nomenclature.__wrapped__()
    gc.collect()
    t0 = time.perf_counter()
    build_arcs(pool, table=fresh)
    first_build_s = time.perf_counter() - t0
    build_s, built = best_of(repeat, lambda: build_arcs(pool))
    path = tmp / f"clinical_{n}_{seed}.json"
    write_pool_json(pool, path)
    read_s, read = best_of(repeat, lambda: possible.read_pool(path))
    read_build_s, rebuilt = best_of(repeat, lambda: build_arcs(possible.read_pool(path)))
    arcs = built.pool.arcs
    return {
        "patients": len(pool.patients),
        "donors": len(pool.donors),
        "ndds": sum(1 for d in pool.donors if d.patient is None),
        "arcs": len(arcs),
        "seed": seed,
        "repeat": repeat,
        "generate_s": generate_s,
        "first_build_s": first_build_s,
        "build_s": build_s,
        "read_s": read_s,
        "read_build_s": read_build_s,
        "file_mb": path.stat().st_size / 1e6,
        "read_pool_arcs": len(read.arcs),
        "same_arcs_after_read": bool(
            len(rebuilt.pool.arcs) == len(arcs)
            and (rebuilt.pool.arcs.donor == arcs.donor).all()
            and (rebuilt.pool.arcs.patient == arcs.patient).all()
        ),
        "peak_rss_after_draw_mb": peak_after_draw,
        "peak_rss_mb": peak_rss_mb(),
    }


def machine_line(m: dict[str, Any], date: str, extra: str = "") -> str:
    """One line naming the machine and software of a run, for the reports of ``arcs.py``,
    ``load.py`` and ``web_pages.py``; `extra` (e.g. ``"Chromium 120; "``) goes before git."""
    return (
        f"Machine: {m.get('cpu')}, {m.get('cores_physical')} physical /"
        f" {m.get('cores_logical')} logical cores, {m.get('ram_gb')} GB RAM; {m.get('os')};"
        f" Python {m.get('python')}; "
        + ", ".join(f"{k} {v}" for k, v in m.get("versions", {}).items())
        + f"; {extra}git {m.get('git')}. Run {date}."
    )


def machine() -> dict[str, Any]:
    """Machine facts as ``bench/report.py`` gathers them (without psutil when it is missing)."""
    sys.path.insert(0, str(HERE))
    import report

    try:
        return report.machine_info(ROOT)
    except ImportError:  # psutil is in bench/.venv, not in the repository's venv
        pass
    versions = {}
    for name in ("possible", "numpy", "scipy"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    ram = None
    if hasattr(os, "sysconf"):
        with contextlib.suppress(ValueError, OSError):
            ram = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9, 1)
    return {
        "cpu": report._cpu_model(),
        "cores_logical": os.cpu_count(),
        "cores_physical": _physical_cores(),
        "ram_gb": ram,
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
        "git": report._git(ROOT),
    }


def _physical_cores() -> int | None:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    cores = set()
    physical = core = None
    for line in text.splitlines():
        if line.startswith("physical id"):
            physical = line.split(":", 1)[1].strip()
        elif line.startswith("core id"):
            core = line.split(":", 1)[1].strip()
        elif not line.strip():
            if core is not None:
                cores.add((physical, core))
            physical = core = None
    if core is not None:
        cores.add((physical, core))
    return len(cores) or None


def run_child(n: int, seed: int, repeat: int, tmp: Path) -> dict[str, Any]:
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        str(n),
        "--seed",
        str(seed),
        "--repeat",
        str(repeat),
        "--tmp",
        str(tmp),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"patients": n, "seed": seed, "error": done.stderr.strip()[-4000:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def target(rows: list[dict[str, Any]]) -> dict[str, Any]:
    row = next((r for r in rows if r["patients"] == TARGET_PATIENTS and "error" not in r), None)
    return {
        "patients": TARGET_PATIENTS,
        "seconds": TARGET_SECONDS,
        "build_s": None if row is None else row["first_build_s"],
        "met": None if row is None else row["first_build_s"] < TARGET_SECONDS,
        "read_build_s": None if row is None else row["read_build_s"],
    }


def render(doc: dict[str, Any]) -> str:
    m = doc["machine"]
    t = doc["target"]
    verdict = "not measured" if t["met"] is None else "**met**" if t["met"] else "**not met**"
    lines = [
        "# Building arcs for clinical pools",
        "",
        f"Target: building the arcs of a {t['patients']}-patient clinical pool takes under"
        f" {t['seconds']:g} s.",
        "",
        "| target | measured | verdict |",
        "| --- | ---: | --- |",
        f"| `build_arcs` on {t['patients']} patients < {t['seconds']:g} s (first call) "
        f"| {_s(t['build_s'])} | {verdict} |",
        "",
        f"Pools from `clinical_pool(n, seed={doc['seed']})` (drawing not timed). *first build"
        f" s* is the process's first call; the other times are the best of {doc['repeat']}"
        " after it; each size runs in its own process.",
        "",
        "| patients | donors | NDDs | arcs | first build s | build s | read s | read + build s "
        "| file MB | peak RSS MB | peak RSS after draw MB | target |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in doc["rows"]:
        if "error" in r:
            lines.append(f"| {r['patients']} | error | | | | | | | | | | |")
            continue
        mark = ""
        if r["patients"] == t["patients"]:
            mark = "met" if r["first_build_s"] < t["seconds"] else "not met"
        lines.append(
            f"| {r['patients']} | {r['donors']} | {r['ndds']} | {r['arcs']} "
            f"| {_s(r['first_build_s'])} | {_s(r['build_s'])} "
            f"| {_s(r['read_s'])} | {_s(r['read_build_s'])} | {r['file_mb']:.1f} "
            f"| {r['peak_rss_mb']:.0f} | {r['peak_rss_after_draw_mb']:.0f} | {mark} |"
        )
    errors = [r for r in doc["rows"] if "error" in r]
    bad = [r for r in doc["rows"] if "error" not in r and not r["same_arcs_after_read"]]
    lines += [
        "",
        "- *build s*: `build_arcs(pool)` on the drawn pool (virtual crossmatch, ABO, declines,",
        "  UK scores).",
        "- *read s*: `possible.read_pool` of the pool written by `write_pool_json` (version 2,",
        "  no arcs in the file); *read + build s*: reading it and building its arcs.",
        "- *peak RSS*: `resource.getrusage` maximum of the size's process at the end, drawing",
        "  included; *after draw* is the same figure taken before any timing.",
    ]
    if bad:
        lines.append(
            "- **The arcs built from the file differ from those built in memory** for "
            + ", ".join(str(r["patients"]) for r in bad)
            + " patients."
        )
    else:
        lines.append("- Arcs built from the file equal those built in memory at every size.")
    for r in errors:
        lines += ["", f"Size {r['patients']} failed:", "", "```", r["error"], "```"]
    lines += [
        "",
        machine_line(m, doc["date"]),
        "",
        "Reproduce: `.venv/bin/python bench/arcs.py` (from the repository).",
        "",
    ]
    return "\n".join(lines)


def _s(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), metavar="N")
    parser.add_argument("--seed", type=int, default=SEED, help="default: %(default)s")
    parser.add_argument("--repeat", type=int, default=REPEAT, help="default: %(default)s")
    parser.add_argument("--out", type=Path, default=RESULTS, help="default: %(default)s")
    parser.add_argument("--child", type=int, metavar="N", help=argparse.SUPPRESS)
    parser.add_argument("--tmp", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child is not None:
        print(json.dumps(measure(args.child, args.seed, args.repeat, args.tmp)))
        return 0

    rows = []
    with tempfile.TemporaryDirectory(prefix="possible-bench-arcs-") as tmp:
        for n in args.sizes:
            row = run_child(n, args.seed, args.repeat, Path(tmp))
            rows.append(row)
            if "error" in row:
                print(f"{n} patients: FAILED\n{row['error']}", file=sys.stderr)
            else:
                print(
                    f"{n} patients: {row['arcs']} arcs, build {row['build_s']:.3f} s, "
                    f"read {row['read_s']:.3f} s, read+build {row['read_build_s']:.3f} s, "
                    f"peak {row['peak_rss_mb']:.0f} MB"
                )
    doc = {
        "what": "build_arcs on clinical_pool pools: build, read and read+build times, peak RSS",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "seed": args.seed,
        "repeat": args.repeat,
        "target": target(rows),
        "rows": rows,
        "machine": machine(),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "arcs.json").write_text(json.dumps(doc, indent=2) + "\n")
    (args.out / "arcs.md").write_text(render(doc))
    t = doc["target"]
    print(
        f"target {t['patients']} patients < {t['seconds']:g} s: build {_s(t['build_s'])} s, "
        f"{'met' if t['met'] else 'not met' if t['met'] is False else 'not measured'}"
    )
    print(f"wrote {args.out / 'arcs.md'} and {args.out / 'arcs.json'}")
    return 1 if any("error" in r for r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
