"""The benchmark's reports: per-instance summaries, targets, machine facts, markdown and JSON.

Used by ``bench/run.py``; it can also redraw ``latest.md`` from ``latest.json``::

    bench/.venv/bin/python bench/report.py bench/results/latest.json
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
import subprocess
import sys
from collections.abc import Iterable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = ("possible", "kep_solver", "pulp", "highspy", "numpy", "scipy", "psutil")
TOLERANCE = 1e-4
TARGET_RATIO_AT_1000 = 10.0
TARGET_SECONDS_2000 = {"a": 10.0, "b": 60.0}
TARGET_PEAK_MB = 2000.0

COUNTING_NOTE = """\
**How transplants are counted.** kep_solver's `TransplantCount` adds one for every non-directed
donor (NDD) in the instance, used or not: a chain's closing gift to the waiting list counts as a
transplant, and an NDD that starts no chain is counted as giving straight to the waiting list
(the cycle-chain model has a one-vertex chain per NDD, PICEF a position-1 arc to the sink). So
for the transplants objective the *kep* column shows kep_solver's value minus the number of
NDDs in the instance, which is `possible`'s count of transplants inside the pool; the harness
also checks it against the transplants in kep_solver's selected exchanges. In the UK hierarchy
(configuration c) both tools count the kep_solver way on level 2, and all five levels are
compared as they are.
"""

TIMING_NOTE = """\
**What the times are.** *solve s* is wall time from the parsed file to the optimal solution
(graph, enumeration, model building, all MIP solves; for kep_solver, constructing its model
object and `model.solve()`); *read s*, reading the file, is separate. Python start-up and imports
are excluded. Each solve runs in a fresh process; *peak MB* is the largest resident memory
of that process together with any solver subprocess (PuLP runs CBC as one). *speed-up* is
kep_solver's best time over all its model/solver combinations divided by `possible`'s time.
With `--repeat N`, `possible` solves each instance N times in the same run; its time is the
median of those (the range is shown beside it) and its peak MB the largest. kep_solver runs
once per model and solver.
"""


def machine_info(root: Path) -> dict[str, Any]:
    """Facts about this machine and the software measured.

    Parameters
    ----------
    root
        The repository (for its git commit).

    Returns
    -------
    dict
        ``cpu``, ``cores_logical``, ``cores_physical``, ``ram_gb``, ``os``, ``python``,
        ``versions`` (package -> version, plus ``cbc``) and ``git``.
    """
    import psutil

    versions: dict[str, str] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    versions["cbc"] = _cbc_version()
    return {
        "cpu": _cpu_model(),
        "cores_logical": os.cpu_count(),
        "cores_physical": psutil.cpu_count(logical=False),
        "ram_gb": round(psutil.virtual_memory().total / 1e9, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
        "git": _git(root),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    if sys.platform == "darwin":
        done = subprocess.run(
            ["sysctl", "-n", "machdep.cpu.brand_string"],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode == 0:
            return done.stdout.strip()
    return platform.processor() or platform.machine()


def _cbc_version() -> str:
    try:
        import pulp

        path = pulp.PULP_CBC_CMD().path
        done = subprocess.run([path, "-quit"], capture_output=True, text=True, timeout=30)
        m = re.search(r"Version:\s*(\S+)", done.stdout)
        return m[1] if m else "?"
    except Exception:
        return "?"


def _git(root: Path) -> str:
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--", "src"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"
    return f"{head} (src/ has uncommitted changes)" if dirty else head


def same(a: Sequence[float], b: Sequence[float]) -> bool:
    """Whether two lists of level values agree (absolute tolerance 1e-4, for rounded scores).

    Parameters
    ----------
    a, b
        Values per level.

    Returns
    -------
    bool
    """
    return len(a) == len(b) and all(
        math.isclose(x, y, rel_tol=1e-9, abs_tol=TOLERANCE) for x, y in zip(a, b, strict=True)
    )


def build_summary(rows: Iterable[dict[str, Any]], configs: Iterable[Any]) -> list[dict[str, Any]]:
    """One summary per configuration and instance: kep_solver's best against ``possible``.

    Parameters
    ----------
    rows
        Result rows (see ``bench/run.py``), each with a ``compare`` list when optimal.
    configs
        The configurations run (objects with ``name``), in report order.

    Returns
    -------
    list of dict
        Keys: ``config``, instance fields, ``kep_best`` (label), ``kep_s``, ``kep_read_s``,
        ``kep_peak_mb``, ``kep_value``, ``kep_note``, ``kep_consistent``, ``possible_s``,
        ``possible_read_s``, ``possible_peak_mb``, ``possible_value``, ``possible_status``,
        ``speedup``, ``speedup_bound`` (``>=`` when kep timed out, ``<=`` when we did),
        ``match`` and ``kep_rule_ok``.
    """
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["config"], row["digest"]), []).append(row)
    order = [c.name for c in configs]
    out = []
    for (cfg, _), group in sorted(groups.items(), key=lambda kv: order.index(kv[0][0])):
        first = group[0]
        kep = [r for r in group if r["tool"] == "kep"]
        kep_ok = [r for r in kep if r.get("compare") is not None]
        mine = next((r for r in group if r["tool"] == "possible"), None)
        s: dict[str, Any] = {
            "config": cfg,
            "instance": first["instance"],
            "patients": first["patients"],
            "ndds": first["ndds"],
            "arcs": first["arcs"],
            "caps": first["caps"],
            "kep_runs": len(kep),
            "kep_best": None,
            "kep_s": None,
            "kep_read_s": None,
            "kep_peak_mb": None,
            "kep_value": None,
            "kep_note": "",
            "kep_consistent": all(same(r["compare"], kep_ok[0]["compare"]) for r in kep_ok),
            "kep_rule_ok": all(
                r.get("transplants_in_pool") is None
                or r["objective_name"] != "transplants"
                or math.isclose(r["compare"][0], r["transplants_in_pool"])
                for r in kep_ok
            ),
        }
        if kep_ok:
            best = min(kep_ok, key=lambda r: r["solve_s"])
            s |= {
                "kep_best": best["label"],
                "kep_s": best["solve_s"],
                "kep_read_s": best.get("read_s"),
                "kep_peak_mb": best.get("peak_mb"),
                "kep_value": best["compare"],
            }
        elif kep:
            s["kep_note"] = "; ".join(
                f"{r['label']}: {r.get('status')}" for r in kep if r.get("status") != "optimal"
            )
        else:
            s["kep_note"] = "not run"
        s |= {
            "possible_label": mine["label"] if mine else None,
            "possible_status": mine.get("status") if mine else "not run",
            "possible_s": mine.get("solve_s") if mine else None,
            "possible_repeats": mine.get("repeat_solve_s") if mine else None,
            "possible_read_s": mine.get("read_s") if mine else None,
            "possible_peak_mb": mine.get("peak_mb") if mine else None,
            "possible_value": mine.get("compare") if mine else None,
            "possible_objective": mine.get("objective") if mine else None,
            "possible_bound": mine.get("bound") if mine else None,
            "possible_error": mine.get("error") if mine else None,
            "possible_timeout_s": mine.get("timeout_s") if mine else None,
        }
        s["speedup"], s["speedup_bound"] = _speedup(kep, kep_ok, mine)
        if s["possible_value"] is None or not kep_ok:
            s["match"] = "n/a"
        elif all(same(r["compare"], s["possible_value"]) for r in kep_ok):
            s["match"] = "yes"
        else:
            s["match"] = "MISMATCH"
        if not s["kep_consistent"]:
            s["match"] += " (kep models disagree)"
        out.append(s)
    return out


def _speedup(
    kep: list[dict[str, Any]], kep_ok: list[dict[str, Any]], mine: dict[str, Any] | None
) -> tuple[float | None, str]:
    """kep's best time over ours, and ``">="`` or ``"<="`` when one side hit the time limit."""
    if mine is None:
        return None, ""
    if mine.get("status") == "timeout":
        if not kep_ok:
            return None, ""
        # We hit the limit and kep did not: the ratio is at most kep's best / limit.
        best = min(r["solve_s"] for r in kep_ok)
        return best / float(mine.get("timeout_s") or math.inf), "<="
    if mine.get("compare") is None or not mine.get("solve_s"):
        return None, ""
    if kep_ok:
        return min(r["solve_s"] for r in kep_ok) / mine["solve_s"], ""
    timed_out = [r for r in kep if r.get("status") == "timeout"]
    if timed_out and len(timed_out) == len(kep):
        # Every kep run hit the limit: the ratio is at least limit / ours.
        return min(float(r.get("timeout_s", 0)) for r in timed_out) / mine["solve_s"], ">="
    return None, ""


def targets(
    summary: Sequence[dict[str, Any]], rows: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Check the performance targets.

    Parameters
    ----------
    summary
        From :func:`build_summary`.
    rows
        All result rows.

    Returns
    -------
    list of dict
        ``target``, ``instance``, ``measured`` (text) and ``ok`` (``None`` when not measured).
    """
    out: list[dict[str, Any]] = []
    for s in summary:
        if s["config"] == "a" and s["patients"] == 1000:
            ratio = s["speedup"]
            out.append(
                {
                    "target": "1000 patients, (a): possible >= 10x faster than kep's best",
                    "instance": s["instance"],
                    "measured": _ratio(s),
                    "ok": None if ratio is None else ratio >= TARGET_RATIO_AT_1000,
                }
            )
        limit = TARGET_SECONDS_2000.get(s["config"])
        if limit is not None and s["patients"] == 2000:
            t = _total(s["possible_read_s"], s["possible_s"])
            status = s["possible_status"]
            if status == "not run":
                measured, ok = "-", None
            elif t is None or status != "optimal":
                measured, ok = str(status), False
            else:
                measured, ok = f"{t:.2f} s", t < limit
            out.append(
                {
                    "target": f"2000 patients, ({s['config']}): read + solve < {limit:g} s",
                    "instance": s["instance"],
                    "measured": measured,
                    "ok": ok,
                }
            )
    mine = [r for r in rows if r["tool"] == "possible" and r.get("peak_mb") is not None]
    if mine:
        worst = max(mine, key=lambda r: r["peak_mb"])
        out.append(
            {
                "target": "possible's peak memory < 2 GB (every solve)",
                "instance": f"{worst['instance']} ({worst['config']})",
                "measured": f"{worst['peak_mb']:.0f} MB",
                "ok": worst["peak_mb"] < TARGET_PEAK_MB,
            }
        )
    return out


def _total(read_s: float | None, solve_s: float | None) -> float | None:
    if solve_s is None:
        return None
    if read_s is None or (isinstance(read_s, float) and math.isnan(read_s)):
        return solve_s
    return read_s + solve_s


def write_reports(out: Path, doc: dict[str, Any]) -> tuple[Path, Path]:
    """Write ``latest.json`` (everything) and ``latest.md`` (the tables) into `out`.

    Parameters
    ----------
    out
        Results directory.
    doc
        ``machine``, ``options``, ``configs``, ``rows``, ``summary`` and the timestamps.

    Returns
    -------
    tuple of Path
        The markdown and JSON files.
    """
    out.mkdir(parents=True, exist_ok=True)
    doc = doc | {"targets": targets(doc["summary"], doc["rows"])}
    js = out / "latest.json"
    md = out / "latest.md"
    _atomic_write(js, json.dumps(_json_safe(doc), indent=1) + "\n")
    _atomic_write(md, render_markdown(doc))
    return md, js


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def render_markdown(doc: dict[str, Any]) -> str:
    """The human report: machine, targets, one table per configuration, every solve.

    Parameters
    ----------
    doc
        As given to :func:`write_reports` (with ``targets``).

    Returns
    -------
    str
        Markdown.
    """
    m = doc["machine"]
    v = m["versions"]
    opts = doc["options"]
    lines = [
        "# possible vs kep_solver",
        "",
        f"Run {doc['started']} - {doc.get('finished', 'in progress')}; "
        f"timeout {opts['timeout_s']:g} s per solve; possible via {opts['possible_via']}"
        + ("; kep rows reused from the cache where present" if opts.get("reuse_kep") else ""),
        "",
        f"Machine: {m['cpu']}, {m['cores_logical']} logical cores ({m['cores_physical']} "
        f"physical), {m['ram_gb']} GB RAM, {m['os']}, Python {m['python']}.",
        "",
        f"Versions: possible {v['possible']} (git {m['git']}), kep_solver {v['kep_solver']}, "
        f"PuLP {v['pulp']}, CBC {v['cbc']}, highspy {v['highspy']}, numpy {v['numpy']}, "
        f"scipy {v['scipy']}.",
        "",
    ]
    bad = [s for s in doc["summary"] if s["match"] not in ("yes", "n/a")]
    if bad:
        lines += [
            "## !!! MISMATCH !!!",
            "",
            *(
                f"- **{s['instance']} ({s['config']})**: kep {_values(s['kep_value'])} vs "
                f"possible {_values(s['possible_value'])} ({s['match']})"
                for s in bad
            ),
            "",
        ]
    if doc["targets"]:
        lines += ["## Targets", "", "| target | instance | measured | met |", "|---|---|---|---|"]
        for t in doc["targets"]:
            met = {True: "yes", False: "**NO**", None: "-"}[t["ok"]]
            lines.append(f"| {t['target']} | {t['instance']} | {t['measured']} | {met} |")
        lines.append("")
    titles = {name: c["title"] for name, c in doc["configs"].items()}
    for name in doc["configs"]:
        summary = [s for s in doc["summary"] if s["config"] == name]
        if not summary:
            continue
        lines += [f"## {titles[name]}", "", *_summary_table(summary), ""]
    lines += [TIMING_NOTE, COUNTING_NOTE, "## Every solve", "", *_rows_table(doc["rows"]), ""]
    return "\n".join(lines)


def _summary_table(summary: Sequence[dict[str, Any]]) -> list[str]:
    head = (
        "| instance | patients | NDDs | arcs | caps | kep best | kep s | possible s | speed-up "
        "| kep value | possible value | match | kep MB | possible MB |"
    )
    lines = [head, "|" + "---|" * 14]
    for s in summary:
        ratio = _ratio(s)
        kep_best = s["kep_best"] or (s["kep_note"] or "-")
        if s["possible_status"] == "optimal":
            mine = _secs(s["possible_s"]) + _spread(s.get("possible_repeats"))
        elif s["possible_status"] == "timeout":
            mine = f">{s['possible_timeout_s']:g} (timeout)"
        elif s["possible_status"] == "feasible":
            found, bound = _values(s["possible_objective"]), _values(s["possible_bound"])
            mine = f"{_secs(s['possible_s'])} (feasible: {found}, bound {bound})"
        else:
            mine = str(s["possible_status"])
        match = f"**{s['match']}**" if s["match"] != "yes" and s["match"] != "n/a" else s["match"]
        lines.append(
            f"| {s['instance']} | {s['patients']} | {s['ndds']} | {s['arcs']} | {s['caps']} "
            f"| {kep_best} | {_secs(s['kep_s'])} | {mine} | {ratio} | {_values(s['kep_value'])} "
            f"| {_values(s['possible_value'])} | {match} | {_mb(s['kep_peak_mb'])} "
            f"| {_mb(s['possible_peak_mb'])} |"
        )
    return lines


def _rows_table(rows: Sequence[dict[str, Any]]) -> list[str]:
    lines = [
        "| config | instance | solver | status | value (own counting) | compared | in pool "
        "| read s | solve s | process s | peak MB | note |",
        "|" + "---|" * 12,
    ]
    for r in rows:
        note = "cached" if r.get("cached") else ""
        if r.get("error"):
            note = (note + " " + str(r["error"])[:80]).strip()
        lines.append(
            f"| {r['config']} | {r['instance']} | {r['label']} | {r.get('status')} "
            f"| {_values(r.get('objective'))} | {_values(r.get('compare'))} "
            f"| {r.get('transplants_in_pool', '-')} | {_secs(r.get('read_s'))} "
            f"| {_secs(r.get('solve_s'))} | {_secs(r.get('process_s'))} "
            f"| {_mb(r.get('peak_mb'))} | {note} |"
        )
    return lines


def _spread(repeats: Sequence[float | None] | None) -> str:
    """`` (median of N: lo-hi)`` for repeated solves, empty for one."""
    if not repeats or len(repeats) < 2:
        return ""
    done = [t for t in repeats if t is not None]
    unfinished = len(repeats) - len(done)
    span = f"{_secs(min(done))}-{_secs(max(done))}" if done else "-"
    more = f", {unfinished} unfinished" if unfinished else ""
    return f" (median of {len(repeats)}: {span}{more})"


def _ratio(s: dict[str, Any]) -> str:
    if s["speedup"] is None:
        return "-"
    return f"{s['speedup_bound']}{s['speedup']:.1f}x"


def _secs(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.2f}" if value < 100 else f"{value:.0f}"


def _mb(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _values(values: Sequence[float] | None) -> str:
    if not values:
        return "-"
    shown = [
        "-"
        if v is None or math.isnan(v)
        else (str(int(v)) if float(v).is_integer() else format(round(v, 5), ".10g"))
        for v in values
    ]
    return shown[0] if len(shown) == 1 else "[" + ", ".join(shown) + "]"


def main(argv: list[str] | None = None) -> int:
    """Redraw the markdown report next to a ``latest.json``.

    Parameters
    ----------
    argv
        ``[path to latest.json]`` (default ``bench/results/latest.json``).

    Returns
    -------
    int
        Exit status.
    """
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else Path(__file__).resolve().parent / "results" / "latest.json"
    doc = json.loads(path.read_text())
    md = path.with_suffix(".md")
    _atomic_write(md, render_markdown(doc))
    print(f"wrote {md}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
