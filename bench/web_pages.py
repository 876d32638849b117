"""Time each screen of the web app in headless Chromium on the demo pool: under 1 s each?

Starts the service the way ``tests/web/conftest.py`` does (uvicorn in a thread on a free
loopback port, ``create_app(Settings(...))``) on a temporary SQLite file seeded with the pool
``make run`` uses (``seed_demo(db)``: two centres, 150 pairs). As ``admin`` it starts one
matching run through the API (``POST /api/v1/match-runs`` with ``{}``) and waits for it, so that
exchanges and a run result exist. Then Debian's Chromium (through Playwright, the tests' flags)
opens the app, signs in through the form as each role and times every screen:

* a **screen** is timed from the moment ``location.hash`` is set (inside the page,
  ``performance.now()``) until the screen is rendered: its ``<h1>`` is in and visible, the data it
  loads are in (table rows, exchange diagrams, ``#run-phase`` reading ``done`` and the result's
  ``svg.diagram``), and the app has finished the screen (it sets ``document.title`` last). Before
  each repetition the page goes to the sign-in screen (no API calls) and empties ``<main>``, so
  that nothing of the previous repetition can satisfy the check;
* the **first load** is ``page.goto('/')`` in a fresh browser context (empty cache), timed from
  navigation start (``performance.timeOrigin``) until the sign-in screen is rendered; a
  **signed-in load** is ``page.goto('/')`` with a session, until the dashboard is rendered.

Each is repeated ``--repeat`` (5) times; the median and maximum are reported against the
issue's target, "no page needs more than one second on the demo pool". Console messages of type
``error``, uncaught page errors and failed requests (HTTP 4xx/5xx) are recorded. Nothing here
fails on time.

Writes ``bench/results/web_pages.md`` and ``bench/results/web_pages.json``. Run with the
repository's venv, from the repository::

    .venv/bin/python bench/web_pages.py
    .venv/bin/python bench/web_pages.py --repeat 9 --patients 300
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
API = "/api/v1"
PASSWORD = "possible-demo"
TARGET_MS = 1000.0
REPEAT = 5
DESKTOP = {"width": 1280, "height": 900}
TABLET = {"width": 820, "height": 1180}
CHROMIUM = os.environ.get("POSSIBLE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [  # as tests/web/conftest.py launches it
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
RUN_TIMEOUT_S = 600.0
SCREEN_TIMEOUT_MS = 30_000

# --- when is a screen rendered ---------------------------------------------------------------

# JavaScript predicates over ``main`` (the <main> element) and ``h1`` (its first <h1>, visible);
# ``arg`` is the screen's argument (an id). Each must hold only once the screen's data are in.
READY: dict[str, str] = {
    "login": "h1.textContent === 'Sign in' && !!main.querySelector('form')",
    "dashboard": "/dashboard/i.test(h1.textContent) && main.querySelectorAll('.card').length === 4",
    "list": (
        "!!main.querySelector('[aria-live] p') && /shown$/.test("
        "main.querySelector('[aria-live] p').textContent)"
        " && main.querySelectorAll('[aria-live] tbody tr').length > 0"
    ),
    "person": "h1.textContent.endsWith(' ' + arg) && !!main.querySelector('table tbody tr')",
    "new_pair": "h1.textContent === 'Add a pair' && !!main.querySelector('#donor-consent')",
    "exchanges": (
        "h1.textContent === 'Exchanges' && !!main.querySelector('p')"
        " && main.querySelectorAll('section.exchange').length"
        " === main.querySelectorAll('section.exchange svg.diagram').length"
        " && /: \\d+\\.$/.test(main.querySelector('p').textContent)"
    ),
    "runs": "h1.textContent === 'Matching runs' && !!main.querySelector('table tbody tr')",
    "run": (
        "/done$/.test((main.querySelector('#run-phase') || {}).textContent || '')"
        " && !!main.querySelector('svg.diagram')"
        " && [...main.querySelectorAll('h2')].some((e) => e.textContent === 'Patients not matched')"
    ),
    "audit": "h1.textContent === 'Audit trail' && !!main.querySelector('table tbody tr')",
}

CHECK = """
(kind, arg, title) => {
  const main = document.getElementById('main');
  const h1 = main && main.querySelector('h1');
  if (!h1 || !h1.checkVisibility()) return false;
  if (title && !document.title.endsWith(' - possible')) return false;
  return (() => { %s })();
}
"""


def _check_js() -> str:
    cases = " ".join(f"if (kind === {json.dumps(k)}) return {v};" for k, v in READY.items())
    return CHECK % (cases + " throw new Error('unknown screen kind ' + kind);")


# Inside the page: set the hash (unless ``hash`` is null: a full load), then watch the DOM
# until the screen's predicate holds; answer the milliseconds since the hash was set (or since
# navigation start).
MEASURE = """
async ([hash, kind, arg, timeoutMs]) => {
  const ready = %s;
  const t0 = hash === null ? 0 : performance.now();
  if (hash !== null) {
    document.getElementById('main').replaceChildren();
    document.title = '';
    location.hash = hash;
  }
  return await new Promise((resolve, reject) => {
    const done = () => {
      let ok = false;
      try { ok = ready(kind, arg, true); } catch (e) { reject(e); return true; }
      if (!ok) return false;
      const t = performance.now() - t0;
      observer.disconnect(); clearInterval(timer); clearTimeout(limit);
      resolve(t);
      return true;
    };
    const observer = new MutationObserver(() => { done(); });
    observer.observe(document, {childList: true, subtree: true, characterData: true});
    const timer = setInterval(done, 20);
    const limit = setTimeout(() => {
      observer.disconnect(); clearInterval(timer);
      reject(new Error('not rendered within ' + timeoutMs + ' ms: ' + location.hash));
    }, timeoutMs);
    done();
  });
}
"""


# --- the server ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serve(database: Path, patients: int | None, seed: int | None) -> Iterator[tuple[str, dict]]:
    import uvicorn

    from possible.service.app import create_app
    from possible.service.demo import seed_demo
    from possible.service.settings import Settings

    app = create_app(
        Settings(database_url=f"sqlite:///{database}", secret_key="bench-web-" + "x" * 40)
    )
    kwargs: dict[str, int] = {}
    if patients is not None:
        kwargs["patients"] = patients
    if seed is not None:
        kwargs["seed"] = seed
    t = time.perf_counter()
    seed_demo(app.state.db, **kwargs)
    seeded = time.perf_counter() - t
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(400):
        if server.started:
            break
        time.sleep(0.05)
    else:
        raise RuntimeError("the server did not start")
    try:
        yield f"http://127.0.0.1:{port}", {"seed_s": seeded, "seed_args": kwargs}
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def call(base: str, method: str, path: str, token: str | None = None, **body: Any) -> Any:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if method != "GET" else None
    req = urllib.request.Request(base + API + path, data=data, headers=headers, method=method)
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read() or b"null")


def token_of(base: str, user: str) -> str:
    data = f"username={user}&password={PASSWORD}".encode()
    req = urllib.request.Request(
        base + API + "/auth/token",
        data=data,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    with urllib.request.urlopen(req, timeout=60) as r:
        return str(json.loads(r.read())["access_token"])


def prepare(base: str) -> dict[str, Any]:
    """Run one match as admin; pick a north patient and donor (in an exchange when possible)."""
    admin = token_of(base, "admin")
    t = time.perf_counter()
    run = call(base, "POST", "/match-runs", admin)
    while run["status"] not in ("done", "failed"):
        if time.perf_counter() - t > RUN_TIMEOUT_S:
            raise RuntimeError(f"matching run {run['id']} not finished in {RUN_TIMEOUT_S:.0f} s")
        time.sleep(0.25)
        run = call(base, "GET", f"/match-runs/{run['id']}", admin)
    run_s = time.perf_counter() - t
    if run["status"] != "done":
        raise RuntimeError(f"matching run {run['id']} failed: {run.get('error')}")
    north = token_of(base, "north")
    auditor = token_of(base, "auditor")
    patients = call(base, "GET", "/patients?limit=500", north)
    donors = call(base, "GET", "/donors?limit=500", north)
    exchanges = call(base, "GET", "/exchanges", north)
    mine_p = {p["id"] for p in patients["items"]}
    mine_d = {d["id"] for d in donors["items"]}
    in_exchange = [t for e in exchanges for t in e["transplants"]]
    patient = next((t["patient"] for t in in_exchange if t["patient"] in mine_p), None)
    donor = next((t["donor"] for t in in_exchange if t["donor"] in mine_d), None)
    patient = patient or patients["items"][0]["id"]
    donor = donor or donors["items"][0]["id"]
    result = run["result"]
    return {
        "run_id": run["id"],
        "run_s": round(run_s, 2),
        "run_transplants": result["transplants"],
        "run_exchanges": len(result["exchanges"]),
        "run_unmatched": len(result.get("unmatched") or []),
        "patient": patient,
        "donor": donor,
        "north_patients": patients["total"],
        "north_donors": donors["total"],
        "north_exchanges": len(exchanges),
        "all_patients": call(base, "GET", "/patients?limit=1", auditor)["total"],
        "all_exchanges": len(call(base, "GET", "/exchanges", auditor)),
        "audit_events": call(base, "GET", "/audit-events?limit=1", auditor)["total"],
    }


# --- the browser -----------------------------------------------------------------------------


class Session:
    """One browser context and page, signed in as `user`, recording console errors."""

    def __init__(self, browser: Any, base: str, user: str, viewport: dict[str, int]) -> None:
        self.user = user
        self.context = browser.new_context(base_url=base, viewport=viewport)
        self.page = self.context.new_page()
        self.page.set_default_timeout(SCREEN_TIMEOUT_MS)
        self.where = "sign-in"
        self.problems: list[dict[str, str]] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda e: self._note("pageerror", str(e)))
        self.page.on("response", self._response)

    def _note(self, kind: str, text: str) -> None:
        self.problems.append({"kind": kind, "user": self.user, "screen": self.where, "text": text})

    def _console(self, msg: Any) -> None:
        if msg.type == "error":
            loc = msg.location or {}
            self._note(
                "console.error", f"{msg.text} ({loc.get('url', '')}:{loc.get('lineNumber', '')})"
            )

    def _response(self, r: Any) -> None:
        if r.status >= 400:
            self._note("http", f"{r.request.method} {r.url} -> {r.status}")

    def sign_in(self) -> None:
        page = self.page
        page.goto("/#/login")
        page.wait_for_selector("#username")
        page.fill("#username", self.user)
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_function(
            f"([k, a, t]) => ({_check_js()})(k, a, t)", arg=["dashboard", None, True]
        )

    def screen(self, hash_: str, kind: str, arg: str | None) -> float:
        """Milliseconds from setting the hash until the screen is rendered."""
        self.where = "between"
        self.page.evaluate(MEASURE % _check_js(), ["#/login", "login", None, SCREEN_TIMEOUT_MS])
        self.where = hash_
        return float(
            self.page.evaluate(MEASURE % _check_js(), [hash_, kind, arg, SCREEN_TIMEOUT_MS])
        )

    def full_load(self, kind: str) -> float:
        """Milliseconds from navigation start of ``goto('/')`` until `kind` is rendered."""
        self.where = "/ (full load)"
        self.page.goto("/", wait_until="commit")
        return float(
            self.page.evaluate(MEASURE % _check_js(), [None, kind, None, SCREEN_TIMEOUT_MS])
        )

    def close(self) -> None:
        self.context.close()


def summary(samples: list[float]) -> dict[str, Any]:
    return {
        "median_ms": round(statistics.median(samples), 1),
        "max_ms": round(max(samples), 1),
        "min_ms": round(min(samples), 1),
        "samples_ms": [round(s, 1) for s in samples],
    }


def measure(base: str, facts: dict[str, Any], repeat: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    rows: list[dict[str, Any]] = []
    problems: list[dict[str, str]] = []
    pid, did, rid = facts["patient"], facts["donor"], facts["run_id"]
    plan: list[tuple[str, str, str, str, str | None]] = [  # name, user, hash, kind, arg
        ("dashboard", "north", "#/", "dashboard", None),
        ("patients (centre)", "north", "#/patients", "list", None),
        ("donors (centre)", "north", "#/donors", "list", None),
        (f"patient {pid}", "north", f"#/patients/{pid}", "person", pid),
        (f"donor {did}", "north", f"#/donors/{did}", "person", did),
        ("new pair", "north", "#/pairs/new", "new_pair", None),
        ("exchanges (centre)", "north", "#/exchanges", "exchanges", None),
        ("runs", "admin", "#/runs", "runs", None),
        (f"run {rid} (done)", "admin", f"#/runs/{rid}", "run", str(rid)),
        ("audit trail", "auditor", "#/audit", "audit", None),
        ("patients (all)", "auditor", "#/patients", "list", None),
    ]
    tablet = {"dashboard", "patients (centre)", f"run {rid} (done)"}
    role = {"north": "coordinator (north)", "admin": "admin", "auditor": "auditor"}

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        version = browser.version

        # The first load: a fresh context each time (empty cache, no session).
        first: list[float] = []
        for _ in range(repeat):
            s = Session(browser, base, "(nobody)", DESKTOP)
            first.append(s.full_load("login"))
            problems += s.problems
            s.close()
        rows.append(
            {
                "screen": "first load, goto '/' (sign-in screen, cold cache)",
                "role": "none",
                "viewport": "1280x900",
                **summary(first),
            }
        )

        for label, viewport in (("1280x900", DESKTOP), ("820x1180", TABLET)):
            sessions: dict[str, Session] = {}
            try:
                for name, user, hash_, kind, arg in plan:
                    if viewport is TABLET and name not in tablet:
                        continue
                    if user not in sessions:
                        sessions[user] = Session(browser, base, user, viewport)
                        sessions[user].sign_in()
                    s = sessions[user]
                    times = [s.screen(hash_, kind, arg) for _ in range(repeat)]
                    rows.append(
                        {
                            "screen": f"{name} `{hash_}`",
                            "role": role[user],
                            "viewport": label,
                            **summary(times),
                        }
                    )
                    print(f"{label} {user:8} {name:28} median {rows[-1]['median_ms']:7.1f} ms")
                if viewport is DESKTOP:
                    s = sessions["north"]
                    loads = [s.full_load("dashboard") for _ in range(repeat)]
                    rows.append(
                        {
                            "screen": "signed-in load, goto '/' (dashboard, warm cache)",
                            "role": role["north"],
                            "viewport": label,
                            **summary(loads),
                        }
                    )
            finally:
                for s in sessions.values():
                    problems += s.problems
                    s.close()
        browser.close()
    for r in rows:
        r["met"] = r["max_ms"] <= TARGET_MS
    return {"chromium": version, "rows": rows, "problems": problems}


# --- the report ------------------------------------------------------------------------------


def _load() -> Any:
    """``bench/load.py``, whose machine facts and line this report shares."""
    sys.path.insert(0, str(HERE))
    import load

    return load


def machine() -> dict[str, Any]:
    """The machine as ``bench/load.py`` describes it, plus Playwright's version."""
    info: dict[str, Any] = _load().machine()
    with contextlib.suppress(metadata.PackageNotFoundError):
        info["versions"]["playwright"] = metadata.version("playwright")
    return info


def render(doc: dict[str, Any]) -> str:
    m, f, rows, v = doc["machine"], doc["pool"], doc["rows"], doc["verdict"]
    lines = [
        "# Web app: time to render each screen",
        "",
        f"Target: **no page needs more than one second on the demo pool** —"
        f" **{'met' if v['met'] else 'not met'}** (slowest: {v['slowest']['screen']},"
        f" {v['slowest']['role']}, {v['slowest']['viewport']}: max {v['slowest']['max_ms']:.0f} ms,"
        f" median {v['slowest']['median_ms']:.0f} ms; judged on each screen's maximum of"
        f" {doc['repeat']} repetitions).",
        "",
        "| screen | role | viewport | median ms | max ms | ≤ 1 s |",
        "| --- | --- | --- | ---: | ---: | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['screen']} | {r['role']} | {r['viewport']} | {r['median_ms']:.0f}"
            f" | {r['max_ms']:.0f} | {'yes' if r['met'] else '**no**'} |"
        )
    probs = doc["problems"]
    lines += [
        "",
        f"- Pool: `seed_demo(db)` with its defaults (as `make run`: {f['all_patients']} patients"
        f" in all, {f['north_patients']} patients and {f['north_donors']} donors at north) on a"
        f" temporary SQLite file; seeding took {doc['seed_s']:.1f} s. One matching run"
        f" (`POST /api/v1/match-runs` with `{{}}`) took {f['run_s']:.1f} s:"
        f" {f['run_transplants']} transplants in {f['run_exchanges']} exchanges,"
        f" {f['run_unmatched']} patients unmatched; the exchanges screen shows"
        f" {f['north_exchanges']} exchanges to north. The audit trail held"
        f" {f['audit_events']} events before the browser started.",
        "- Server: uvicorn in a thread of the benchmark's process, as `tests/web/conftest.py`"
        " starts it; browser: Debian's Chromium"
        f" {doc['chromium']} headless through Playwright, with the tests' flags; all on one"
        " machine.",
        "- A screen is timed inside the page from setting `location.hash` until its `<h1>` is"
        " visible, its data are in (table rows; every exchange's `svg.diagram`; `#run-phase`"
        " reading `done`, a result diagram and *Patients not matched*) and the app has set"
        " `document.title` (its last step). Before each repetition the page shows the sign-in"
        " screen (no API calls) and `<main>` is emptied. Full loads are timed from navigation"
        " start. Each row is"
        f" {doc['repeat']} repetitions in one signed-in page (warm HTTP cache, as a user moving"
        " between screens), except the first load, which uses a fresh context each time.",
        f"- Console errors, uncaught page errors and HTTP 4xx/5xx responses: {len(probs)}.",
    ]
    for p in probs[:20]:
        lines.append(f"  - {p['kind']} ({p['user']}, {p['screen']}): `{p['text'][:200]}`")
    lines += [
        "",
        _load()._arcs().machine_line(m, doc["date"], f"Chromium {doc['chromium']}; "),
        "",
        f"Reproduce: `.venv/bin/python bench/web_pages.py{doc['args']}` (from the repository).",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=REPEAT, help="default: %(default)s")
    parser.add_argument(
        "--patients", type=int, help="demo pool size (default: seed_demo's, as `make run`)"
    )
    parser.add_argument("--seed", type=int, help="demo pool seed (default: seed_demo's)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="default: %(default)s")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be positive")
    if not Path(CHROMIUM).exists():
        parser.error(f"no Chromium at {CHROMIUM} (set POSSIBLE_CHROMIUM)")
    extra = "".join(
        f" --{k} {getattr(args, k)}"
        for k in ("repeat", "patients", "seed")
        if getattr(args, k) is not None and (k != "repeat" or args.repeat != REPEAT)
    )

    with (
        tempfile.TemporaryDirectory(prefix="possible-bench-web-") as tmp,
        serve(Path(tmp) / "registry.db", args.patients, args.seed) as (base, info),
    ):
        facts = prepare(base)
        print(
            f"pool seeded in {info['seed_s']:.1f} s; run {facts['run_id']} done in"
            f" {facts['run_s']:.1f} s ({facts['run_transplants']} transplants)"
        )
        measured = measure(base, facts, args.repeat)
    rows = measured["rows"]
    slowest = max(rows, key=lambda r: r["max_ms"])
    doc = {
        "what": "time to render each screen of the web app in headless Chromium, demo pool",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "target_ms": TARGET_MS,
        "repeat": args.repeat,
        "args": extra,
        "seed_s": round(info["seed_s"], 2),
        "seed_demo_args": info["seed_args"],
        "pool": facts,
        "chromium": measured["chromium"],
        "rows": rows,
        "verdict": {
            "met": all(r["met"] for r in rows),
            "over_target": [r["screen"] + " / " + r["viewport"] for r in rows if not r["met"]],
            "slowest": {
                k: slowest[k] for k in ("screen", "role", "viewport", "median_ms", "max_ms")
            },
        },
        "problems": measured["problems"],
        "machine": machine(),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "web_pages.json").write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    (args.out / "web_pages.md").write_text(render(doc))
    v = doc["verdict"]
    print(
        f"target {'met' if v['met'] else 'NOT met'}; slowest {slowest['screen']}"
        f" ({slowest['viewport']}) max {slowest['max_ms']:.0f} ms;"
        f" {len(doc['problems'])} console/page/HTTP problems"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
