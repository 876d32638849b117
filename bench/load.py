"""Load the REST service with concurrent coordinators and an auditor: throughput, latency, errors.

Starts ``possible serve --demo`` as a subprocess on a free loopback port with a fresh temporary
SQLite database, signs in once as ``north``, ``south`` and ``auditor``, then runs ``--clients``
concurrent clients (asyncio, one HTTP connection each, no think time) for ``--seconds``. Half the
clients act as the north coordinator, half as the south one, and about one in ten as the
auditor. Each client repeats one operation after another:

* reads, about 80 % of operations: a page of patients, one patient, a page of donors, the
  pairs, the exchanges, the matching runs;
* writes, about 20 % (coordinators only): read one of the centre's patients and ``PATCH`` its
  ``cpra`` with the version just read (a 409 is a *conflict*, expected under optimistic
  locking: the client reads again and retries once), or ``POST`` a new patient with a unique id.

Every request's kind, status and latency is recorded. *Errors* are any 5xx, transport error or
unexpected 4xx; 409s of a ``PATCH`` are counted apart as *conflicts*. After the load the
database is checked through the API: every created patient is there, the patients' versions
add up to the successful ``PATCH``es, and the audit trail holds one event per successful request
(the service commits after sending the response, so a failed commit shows only there and in the
server log, which is scanned for exceptions as well).

Writes ``bench/results/load.md`` and ``bench/results/load.json``. Run with the repository's venv,
from the repository::

    .venv/bin/python bench/load.py
    .venv/bin/python bench/load.py --clients 20 --seconds 30
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import random
import re
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

try:
    import httpx2 as httpx
except ImportError:  # pragma: no cover - httpx2 mirrors httpx's API
    import httpx  # type: ignore[no-redef]

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
API = "/api/v1"
PASSWORD = "possible-demo"
USERS = ("north", "south", "auditor")
CLIENTS = 50
SECONDS = 60.0
SEED = 1
AUDITOR_EVERY = 10  # every tenth client is the auditor
WRITE_SHARE = 0.20  # of all operations
READS = {  # operation -> weight among reads
    "list_patients": 0.30,
    "get_patient": 0.30,
    "list_donors": 0.15,
    "list_pairs": 0.10,
    "list_exchanges": 0.10,
    "list_runs": 0.05,
}
WRITES = {"patch_patient": 0.70, "create_patient": 0.30}
OK = {"create_patient": 201}  # every other kind answers 200
REQUEST_TIMEOUT = 120.0
READY_TIMEOUT = 180.0
PERCENTILES = (50, 90, 99)


@dataclass
class Sample:
    kind: str
    status: int  # 0: transport error
    latency: float  # seconds
    at: float  # seconds since the load started
    client: int
    detail: str | None = None


@dataclass
class State:
    """What the clients share: the load's clock, the records, the patients each centre has."""

    t0: float
    deadline: float
    samples: list[Sample] = field(default_factory=list)
    ids: dict[str, list[str]] = field(default_factory=dict)
    ops: Counter[str] = field(default_factory=Counter)
    retries: Counter[str] = field(default_factory=Counter)


# --- the server ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(database: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    exe = Path(sys.executable).parent / "possible"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "possible.cli"]
    cmd += ["serve", "--demo", "--database", f"sqlite:///{database}", "--port", str(port)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSSIBLE_")}
    with log.open("wb") as out:
        return subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, cwd=database.parent, env=env
        )


def stop_server(proc: subprocess.Popen[bytes]) -> int | None:
    """Terminate (SIGTERM: uvicorn shuts down gracefully), wait, kill only if it hangs."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    return proc.returncode


async def wait_ready(base: str, proc: subprocess.Popen[bytes], log: Path) -> float:
    t0 = time.perf_counter()
    async with httpx.AsyncClient(base_url=base, timeout=5.0) as client:
        while time.perf_counter() - t0 < READY_TIMEOUT:
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited ({proc.returncode}):\n{_tail(log)}")
            try:
                if (await client.get("/openapi.json")).status_code == 200:
                    return time.perf_counter() - t0
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"the server did not answer within {READY_TIMEOUT:g} s:\n{_tail(log)}")


async def sign_in(client: httpx.AsyncClient, user: str) -> str:
    r = await client.post(f"{API}/auth/token", data={"username": user, "password": PASSWORD})
    r.raise_for_status()
    return str(r.json()["access_token"])


def _tail(log: Path, chars: int = 4000) -> str:
    try:
        return log.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


# --- the clients -----------------------------------------------------------------------------


async def request(
    state: State,
    http: httpx.AsyncClient,
    cid: int,
    kind: str,
    method: str,
    url: str,
    **kwargs: Any,
) -> httpx.Response | None:
    t = time.perf_counter()
    try:
        r = await http.request(method, url, **kwargs)
    except httpx.HTTPError as err:
        now = time.perf_counter()
        state.samples.append(
            Sample(kind, 0, now - t, t - state.t0, cid, f"{type(err).__name__}: {err}"[:500])
        )
        return None
    now = time.perf_counter()
    detail = None
    if r.status_code != OK.get(kind, 200):
        detail = r.text[:500]
    state.samples.append(Sample(kind, r.status_code, now - t, t - state.t0, cid, detail))
    return r


async def patch_patient(
    state: State, http: httpx.AsyncClient, cid: int, centre: str, rng: random.Random
) -> None:
    """Read one of the centre's patients and change its cPRA; on a 409 read again, retry once."""
    pid = rng.choice(state.ids[centre])
    for attempt in range(2):
        r = await request(state, http, cid, "get_patient", "GET", f"{API}/patients/{pid}")
        if r is None or r.status_code != 200:
            return
        body = {"version": r.json()["version"], "cpra": round(rng.random(), 3)}
        url = f"{API}/patients/{pid}"
        r = await request(state, http, cid, "patch_patient", "PATCH", url, json=body)
        if r is None or r.status_code != 409:
            return
        state.retries["conflict_retried" if attempt == 0 else "conflict_gave_up"] += 1


async def create_patient(
    state: State, http: httpx.AsyncClient, cid: int, centre: str, rng: random.Random, n: int
) -> None:
    pid = f"load-{centre}-{cid}-{n}"
    body = {
        "id": pid,
        "blood_group": rng.choice(("O", "A", "B", "AB")),
        "hla": rng.choice((["A2", "B7", "DR4"], ["A1", "B8", "DR3"], ["A3", "B44", "DR15"])),
    }
    r = await request(state, http, cid, "create_patient", "POST", f"{API}/patients", json=body)
    if r is not None and r.status_code == 201:
        state.ids[centre].append(pid)


async def read(
    state: State, http: httpx.AsyncClient, cid: int, op: str, scope: str, rng: random.Random
) -> None:
    ids = state.ids[scope]
    if op == "list_patients":
        offset = rng.randrange(0, max(1, len(ids)), 50) if ids else 0
        params = {"limit": 50, "offset": offset}
        await request(state, http, cid, op, "GET", f"{API}/patients", params=params)
    elif op == "get_patient":
        await request(state, http, cid, op, "GET", f"{API}/patients/{rng.choice(ids)}")
    elif op == "list_donors":
        offset = rng.randrange(0, max(1, len(ids)), 50) if ids else 0
        params = {"limit": 50, "offset": offset}
        await request(state, http, cid, op, "GET", f"{API}/donors", params=params)
    else:
        path = {"list_pairs": "pairs", "list_exchanges": "exchanges", "list_runs": "match-runs"}
        await request(state, http, cid, op, "GET", f"{API}/{path[op]}")


async def client(
    state: State, base: str, cid: int, user: str, token: str, write_p: float, seed: int
) -> None:
    rng = random.Random(seed * 1000 + cid)
    scope = "all" if user == "auditor" else user
    created = 0
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with httpx.AsyncClient(
        base_url=base, headers=headers, timeout=REQUEST_TIMEOUT, limits=limits
    ) as http:
        while time.perf_counter() < state.deadline:
            if user != "auditor" and rng.random() < write_p:
                op = rng.choices(list(WRITES), weights=list(WRITES.values()))[0]
                state.ops[op] += 1
                if op == "patch_patient":
                    await patch_patient(state, http, cid, user, rng)
                else:
                    created += 1
                    await create_patient(state, http, cid, user, rng, created)
            else:
                op = rng.choices(list(READS), weights=list(READS.values()))[0]
                state.ops[op] += 1
                await read(state, http, cid, op, scope, rng)


def role_of(cid: int) -> str:
    """Every tenth client is the auditor; the others alternate north and south."""
    if cid % AUDITOR_EVERY == AUDITOR_EVERY - 1:
        return "auditor"
    coordinators_before = cid - cid // AUDITOR_EVERY
    return ("north", "south")[coordinators_before % 2]


# --- before and after ------------------------------------------------------------------------


async def all_patients(http: httpx.AsyncClient) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while True:
        r = await http.get(f"{API}/patients", params={"limit": 500, "offset": len(out)})
        r.raise_for_status()
        page = r.json()
        out += page["items"]
        if not page["items"] or len(out) >= page["total"]:
            return out


async def audit_total(http: httpx.AsyncClient) -> int:
    r = await http.get(f"{API}/audit-events", params={"limit": 1})
    r.raise_for_status()
    return int(r.json()["total"])


def scan_log(log: Path) -> dict[str, Any]:
    text = log.read_text(errors="replace") if log.exists() else ""
    lines = text.splitlines()
    access = re.compile(r'"\w+ [^"]*HTTP/[\d.]+" (\d{3})')
    codes: Counter[str] = Counter()
    for line in lines:
        m = access.search(line)
        if m:
            codes[m.group(1)] += 1
    tracebacks = [m.start() for m in re.finditer(r"^Traceback", text, re.M)]
    excerpts = []
    for start in tracebacks[:3]:
        end = text.find("\nINFO:", start)
        excerpts.append(text[start : end if end > 0 else start + 4000][:4000])
    return {
        "lines": len(lines),
        "tracebacks": len(tracebacks),
        "error_lines": sum(1 for x in lines if x.startswith("ERROR")),
        "database_is_locked": text.count("database is locked"),
        "clean_shutdown": "Application shutdown complete" in text,
        "access_log_statuses": dict(sorted(codes.items())),
        "traceback_excerpts": excerpts,
    }


# --- numbers ---------------------------------------------------------------------------------


def percentile(sorted_xs: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not sorted_xs:
        return None
    pos = (len(sorted_xs) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(sorted_xs) - 1)
    return sorted_xs[lo] + (sorted_xs[hi] - sorted_xs[lo]) * (pos - lo)


def outcome(s: Sample) -> str:
    if s.status == OK.get(s.kind, 200):
        return "ok"
    if s.status == 409 and s.kind == "patch_patient":
        return "conflict"
    return "error"


def summarise(samples: list[Sample], elapsed: float) -> dict[str, Any]:
    def stats(group: list[Sample]) -> dict[str, Any]:
        lat = sorted(s.latency for s in group)
        out = Counter(outcome(s) for s in group)
        row: dict[str, Any] = {
            "requests": len(group),
            "ok": out["ok"],
            "conflicts": out["conflict"],
            "errors": out["error"],
            "req_per_s": len(group) / elapsed if elapsed else None,
            "mean_ms": 1000 * sum(lat) / len(lat) if lat else None,
            "max_ms": 1000 * lat[-1] if lat else None,
        }
        for q in PERCENTILES:
            p = percentile(lat, q)
            row[f"p{q}_ms"] = None if p is None else 1000 * p
        return row

    kinds: dict[str, list[Sample]] = defaultdict(list)
    for s in samples:
        kinds[s.kind].append(s)
    order = [k for k in (*READS, *WRITES) if k in kinds]
    errors = [s for s in samples if outcome(s) == "error"]
    by_status = Counter(f"{s.kind} {s.status or 'transport'}" for s in errors)
    buckets: Counter[int] = Counter(int(s.at // 10) for s in samples)
    return {
        "overall": stats(samples),
        "kinds": {k: stats(kinds[k]) for k in order},
        "statuses": dict(sorted(Counter(str(s.status) for s in samples).items())),
        "errors_by_kind_status": dict(by_status.most_common()),
        "error_examples": [
            {"kind": s.kind, "status": s.status, "at_s": round(s.at, 3), "detail": s.detail}
            for s in errors[:10]
        ],
        "requests_per_10s": [buckets[b] for b in range(max(buckets) + 1)] if buckets else [],
    }


def _arcs() -> Any:
    """``bench/arcs.py``, whose machine facts and line the load report shares."""
    sys.path.insert(0, str(HERE))
    import arcs

    return arcs


def machine() -> dict[str, Any]:
    """The machine as ``bench/arcs.py`` describes it, plus the service's own packages."""
    info: dict[str, Any] = _arcs().machine()
    for name in ("fastapi", "starlette", "uvicorn", "SQLAlchemy", "httpx2"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            info["versions"][name] = metadata.version(name)
    import sqlite3

    info["versions"]["sqlite"] = sqlite3.sqlite_version
    return info


# --- the run ---------------------------------------------------------------------------------


async def run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp / "server.log"
    proc = start_server(tmp / "load.db", port, log)
    doc: dict[str, Any] = {}
    try:
        doc["startup_s"] = await wait_ready(base, proc, log)
        async with httpx.AsyncClient(base_url=base, timeout=REQUEST_TIMEOUT) as http:
            tokens = {u: await sign_in(http, u) for u in USERS}
            http.headers["Authorization"] = f"Bearer {tokens['auditor']}"
            before = await all_patients(http)
            audit_before = await audit_total(http)
        ids: dict[str, list[str]] = {"north": [], "south": [], "all": []}
        for p in before:
            ids[p["centre_id"]].append(p["id"])
            ids["all"].append(p["id"])

        roles = [role_of(c) for c in range(args.clients)]
        coordinators = sum(1 for r in roles if r != "auditor")
        write_p = min(1.0, WRITE_SHARE * args.clients / coordinators) if coordinators else 0.0
        print(
            f"server on {base} ready in {doc['startup_s']:.1f} s; {len(before)} patients; "
            f"{args.clients} clients ({Counter(roles)}) for {args.seconds:g} s",
            file=sys.stderr,
        )
        t0 = time.perf_counter()
        state = State(t0=t0, deadline=t0 + args.seconds, ids=ids)
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        await asyncio.gather(
            *(
                client(state, base, c, roles[c], tokens[roles[c]], write_p, args.seed)
                for c in range(args.clients)
            )
        )
        elapsed = time.perf_counter() - t0
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        await asyncio.sleep(1.0)  # the service commits after answering: let the last ones land

        async with httpx.AsyncClient(base_url=base, timeout=REQUEST_TIMEOUT) as http:
            http.headers["Authorization"] = f"Bearer {tokens['auditor']}"
            audit_after = await audit_total(http)
            after = await all_patients(http)
        samples = state.samples
        ok = Counter(s.kind for s in samples if outcome(s) == "ok")
        versions = sum(int(p["version"]) - 1 for p in after)
        expected_audit = audit_before + 1 + sum(ok.values())  # +1: the first audit-events read
        doc["load"] = {
            "clients": args.clients,
            "roles": dict(Counter(roles)),
            "seconds": args.seconds,
            "elapsed_s": elapsed,
            "seed": args.seed,
            "coordinator_write_probability": write_p,
            "operations": dict(state.ops),
            "write_share_of_operations": sum(state.ops[k] for k in WRITES)
            / max(1, sum(state.ops.values())),
            "conflict_retries": dict(state.retries),
            "client_cpu_s": (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime),
        }
        doc["summary"] = summarise(samples, elapsed)
        doc["integrity"] = {
            "patients_before": len(before),
            "patients_after": len(after),
            "created_ok": ok["create_patient"],
            "created_missing": len(before) + ok["create_patient"] - len(after),
            "patches_ok": ok["patch_patient"],
            "version_increments": versions,
            "patches_missing": ok["patch_patient"] - versions,
            "audit_events_expected": expected_audit,
            "audit_events_found": audit_after,
            "audit_events_missing": expected_audit - audit_after,
        }
        doc["samples_kept"] = [
            [s.kind, s.status, round(s.latency * 1000, 2), round(s.at, 3)] for s in samples
        ]
    finally:
        t = time.perf_counter()
        doc["server_exit"] = stop_server(proc)
        doc["server_stop_s"] = time.perf_counter() - t
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        doc["server_cpu_s"] = kids.ru_utime + kids.ru_stime
        doc["server_log"] = scan_log(log)
        if args.keep_log:
            args.keep_log.parent.mkdir(parents=True, exist_ok=True)
            args.keep_log.write_bytes(log.read_bytes() if log.exists() else b"")
    return doc


def verdict(doc: dict[str, Any]) -> dict[str, Any]:
    errors = doc["summary"]["overall"]["errors"]
    logged = doc["server_log"]["tracebacks"]
    lost = sum(
        max(0, doc["integrity"][k])
        for k in ("created_missing", "patches_missing", "audit_events_missing")
    )
    return {
        "target": "zero errors",
        "client_errors": errors,
        "server_tracebacks": logged,
        "lost_writes": lost,
        "met": errors == 0 and logged == 0 and lost == 0,
    }


def render(doc: dict[str, Any]) -> str:
    m, load, s, v, integ = (doc[k] for k in ("machine", "load", "summary", "verdict", "integrity"))
    o = s["overall"]
    log = doc["server_log"]

    def ms(x: float | None) -> str:
        return "-" if x is None else f"{x:.1f}"

    lines = [
        "# REST service under load",
        "",
        f"Target: **zero errors** under {load['clients']} concurrent clients for"
        f" {load['seconds']:g} s — **{'met' if v['met'] else 'not met'}**"
        f" ({v['client_errors']} errors seen by clients, {v['server_tracebacks']} exceptions in"
        f" the server log, {v['lost_writes']} writes missing afterwards).",
        "",
        f"{o['requests']} requests in {load['elapsed_s']:.1f} s: **{o['req_per_s']:.0f} req/s**;"
        f" latency p50 {ms(o['p50_ms'])} ms, p90 {ms(o['p90_ms'])} ms, p99 {ms(o['p99_ms'])} ms;"
        f" {o['errors']} errors, {o['conflicts']} conflicts (409 on PATCH, expected).",
        "",
        "| kind | requests | req/s | ok | conflicts | errors | p50 ms | p90 ms | p99 ms | max ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, r in [*s["kinds"].items(), ("**all**", o)]:
        lines.append(
            f"| {name} | {r['requests']} | {r['req_per_s']:.1f} | {r['ok']} | {r['conflicts']} "
            f"| {r['errors']} | {ms(r['p50_ms'])} | {ms(r['p90_ms'])} | {ms(r['p99_ms'])} "
            f"| {ms(r['max_ms'])} |"
        )
    ops = load["operations"]
    retries = load["conflict_retries"]
    lines += [
        "",
        f"- Clients: {', '.join(f'{n} {r}' for r, n in sorted(load['roles'].items()))}; each"
        " client has one connection and sends its next request as soon as the previous one"
        " answers (no think time). The server is one uvicorn process (`possible serve --demo`)"
        " on a fresh SQLite file; client and server share the machine.",
        f"- Operations: {sum(ops.values())}, of which"
        f" {100 * load['write_share_of_operations']:.1f} % writes"
        f" ({ops.get('patch_patient', 0)} read-then-PATCH, {ops.get('create_patient', 0)} POST)."
        " A PATCH's read is counted under *get_patient*.",
        f"- Conflicts: {retries.get('conflict_retried', 0)} PATCHes got a 409 and were retried"
        f" after reading again; {retries.get('conflict_gave_up', 0)} got a 409 on the retry too.",
        f"- Integrity afterwards: {integ['created_ok']} patients created,"
        f" {integ['created_missing']} missing; {integ['patches_ok']} PATCHes answered 200,"
        f" the versions grew by"
        f" {integ['version_increments']}; audit events {integ['audit_events_found']} of"
        f" {integ['audit_events_expected']} expected.",
        f"- Server log: {log['tracebacks']} tracebacks, {log['error_lines']} ERROR lines,"
        f" {log['database_is_locked']} mentions of 'database is locked'; access-log statuses"
        f" {log['access_log_statuses']}. Server CPU {doc['server_cpu_s']:.0f} s (startup"
        f" included), load-generator CPU {load['client_cpu_s']:.0f} s; server start"
        f" {doc['startup_s']:.1f} s, stop {doc['server_stop_s']:.1f} s"
        f" (exit {doc['server_exit']}; graceful shutdown"
        f" {'logged' if log['clean_shutdown'] else 'NOT logged'}).",
        f"- Requests per 10 s: {', '.join(str(n) for n in s['requests_per_10s'])}.",
    ]
    if s["errors_by_kind_status"]:
        lines += ["", "Errors by kind and status:", ""]
        lines += [f"- {k}: {n}" for k, n in s["errors_by_kind_status"].items()]
        lines += ["", "First error bodies:", "", "```"]
        for e in s["error_examples"][:5]:
            lines.append(f"{e['kind']} {e['status']} at {e['at_s']} s: {e['detail']}")
        lines += ["```"]
    for text in log["traceback_excerpts"][:2]:
        lines += ["", "Server log:", "", "```", text.strip()[-2500:], "```"]
    lines += [
        "",
        _arcs().machine_line(m, doc["date"]),
        "",
        f"Reproduce: `.venv/bin/python bench/load.py --clients {load['clients']}"
        f" --seconds {load['seconds']:g}` (from the repository).",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=CLIENTS, help="default: %(default)s")
    parser.add_argument("--seconds", type=float, default=SECONDS, help="default: %(default)s")
    parser.add_argument("--seed", type=int, default=SEED, help="default: %(default)s")
    parser.add_argument("--out", type=Path, default=RESULTS, help="default: %(default)s")
    parser.add_argument("--keep-log", type=Path, metavar="FILE", help="copy the server log here")
    parser.add_argument(
        "--samples", action="store_true", help="keep every request's record in the JSON too"
    )
    args = parser.parse_args(argv)
    if args.clients < 1 or args.seconds <= 0:
        parser.error("--clients and --seconds must be positive")

    with tempfile.TemporaryDirectory(prefix="possible-bench-load-") as tmp:
        doc = asyncio.run(run(args, Path(tmp)))
    doc = {
        "what": "possible serve --demo (SQLite) under concurrent coordinators and an auditor",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        **doc,
        "machine": machine(),
    }
    doc["verdict"] = verdict(doc)
    samples = doc.pop("samples_kept")
    if args.samples:
        doc["samples"] = {"columns": ["kind", "status", "latency_ms", "at_s"], "rows": samples}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "load.json").write_text(json.dumps(doc, indent=1) + "\n")
    (args.out / "load.md").write_text(render(doc))
    o = doc["summary"]["overall"]
    v = doc["verdict"]
    print(
        f"{o['requests']} requests, {o['req_per_s']:.0f} req/s, p50 {o['p50_ms']:.1f} ms, "
        f"p99 {o['p99_ms']:.1f} ms, {o['errors']} errors, {o['conflicts']} conflicts; "
        f"server tracebacks {v['server_tracebacks']}, lost writes {v['lost_writes']}; "
        f"zero errors {'met' if v['met'] else 'NOT met'}"
    )
    print(f"wrote {args.out / 'load.md'} and {args.out / 'load.json'}")
    return 0 if v["met"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
