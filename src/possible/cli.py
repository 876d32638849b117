"""The ``possible`` command line: thin adapters over one library call each.

Every :class:`~possible.errors.PossibleError` (and an unreadable file) becomes a one-line
message on stderr and exit status 2; nothing is written to a file unless the command
succeeded.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import sys
import time
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from possible.domain import Pool
from possible.errors import PossibleError

if TYPE_CHECKING:
    from possible.compatibility import Compatibility

__all__ = ["app", "main"]

EXAMPLE_POOL = "example_pool.json"
"""The bundled demo pool (``possible/data/``): 60 patients drawn with ``possible generate``."""

app = typer.Typer(
    name="possible",
    help="Kidney paired exchange: find provably optimal cycles and chains.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


class ObjectiveName(enum.StrEnum):
    """Objectives selectable on the command line."""

    transplants = "transplants"
    score = "score"
    uk = "uk"


class PoolFormat(enum.StrEnum):
    """Formats ``generate`` can write."""

    pool = "pool"
    kep = "kep"


# Options of the commands that derive arcs from clinical records.
ScoringOption = Annotated[
    str | None,
    typer.Option(
        help="For a clinical pool (no arcs given): arc scoring policy, uk (the default), "
        "transplants, or a points table file (.toml/.json).",
        show_default=False,
    ),
]
PanelOption = Annotated[
    Path | None,
    typer.Option(help="For a clinical pool: reference panel file for unrecorded cPRA."),
]
A2Option = Annotated[
    int | None,
    typer.Option(
        help="For a clinical pool: let A2 (A2B) donors give to O and B (B) patients whose "
        "anti-A titre is at most this. Off by default."
    ),
]
CpraAboOption = Annotated[
    bool,
    typer.Option(
        "--cpra-with-abo",
        help="For a clinical pool: where cPRA is computed (not recorded), count panel donors "
        "of an incompatible blood group as ruled out too (default: HLA only, as the UK's cRF).",
    ),
]
AsOfOption = Annotated[
    str | None,
    typer.Option(
        help="For a clinical pool: date of the run (YYYY-MM-DD) for waiting time and ages; "
        "by default the pool's as_of, else its latest listing or dialysis date."
    ),
]


@app.command()
def solve(
    file: Annotated[
        Path | None,
        typer.Argument(
            help="Pool file: kep_solver JSON/XML/YAML, PrefLib .wmd/.dat, or possible's pool "
            "JSON (optionally .gz/.xz).",
            show_default=False,
        ),
    ] = None,
    max_cycle: Annotated[int, typer.Option(help="Longest cycle, in transplants.")] = 3,
    max_chain: Annotated[
        str,
        typer.Option(
            metavar="L|unbounded",
            help="Longest chain, in transplants inside the pool (kep_solver's "
            "maxChainLength minus one); 0 turns chains off, 'unbounded' lifts the cap "
            "(not with --objective uk).",
        ),
    ] = "2",
    objective: Annotated[
        ObjectiveName,
        typer.Option(help="transplants, score, or the UK scheme's five-level hierarchy."),
    ] = ObjectiveName.transplants,
    time_limit: Annotated[
        float | None,
        typer.Option(help="Seconds; the best solution found by then is reported with its gap."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the result as JSON on stdout.")
    ] = False,
    no_timings: Annotated[
        bool,
        typer.Option(
            "--no-timings",
            help="Leave the seconds out of the JSON, so that the same input and policy give "
            "the same bytes on every run and machine.",
        ),
    ] = False,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Also write the JSON result to this file."),
    ] = None,
    example: Annotated[
        bool, typer.Option("--example", help="Solve the bundled 60-patient demo pool.")
    ] = False,
    scoring: ScoringOption = None,
    panel: PanelOption = None,
    a2_max_titre: A2Option = None,
    cpra_with_abo: CpraAboOption = False,
    as_of: AsOfOption = None,
) -> None:
    """Find the best cycles and chains of a pool.

    A clinical pool (possible's pool JSON with blood groups, HLA typings and unacceptable
    antigens, and no arcs) has its arcs derived first: ABO, virtual crossmatch, the patients'
    centres' exclusions, and the scoring policy.

    Example: possible solve pool.json --max-cycle 3 --max-chain 2 --objective uk --json
    """
    from possible.formats import read_pool
    from possible.optimise import solve as solve_pool
    from possible.optimise.report import result_json, result_summary, write_result_json

    if (file is None) == (not example):
        _fail("give a pool FILE, or --example for the bundled demo pool")
    chain_cap = _chain_cap(max_chain)
    with _errors():
        began = time.perf_counter()
        run_date = _run_date(as_of)
        pool = _example_pool() if example else read_pool(_existing(file), as_of=run_date)
        read_seconds = time.perf_counter() - began
        compat = None
        clinical_only = {
            "--scoring": scoring,
            "--panel": panel,
            "--a2-max-titre": a2_max_titre,
            "--cpra-with-abo": cpra_with_abo or None,
        }
        given = [name for name, value in clinical_only.items() if value is not None]
        if given and not pool.clinical_arcs:
            _fail(
                f"{' and '.join(given)} apply to clinical pools only (arcs derived from "
                "clinical records); this pool's arcs are given"
            )
        if pool.clinical_arcs:
            t0 = time.perf_counter()
            compat = _compatibility(
                pool, scoring, panel, a2_max_titre, cpra_with_abo, run_date, file
            )
            pool = compat.pool
            arc_seconds = time.perf_counter() - t0
        with _progress() as say:
            result = solve_pool(
                pool,
                max_cycle=max_cycle,
                max_chain=chain_cap,
                objective=objective.value,
                time_limit=time_limit,
                progress=say,
            )
        result.timings["read"] = read_seconds
        if compat is not None:
            result = compat.explain_result(result)
            result.timings["compatibility"] = arc_seconds
            result.policy["scoring"] = compat.policy.name
            result.policy["scoring_digest"] = compat.policy.digest()
            if scoring is not None and Path(scoring).suffix in (".toml", ".json"):
                result.policy["scoring_file"] = scoring
            result.policy["as_of"] = compat.as_of and compat.as_of.isoformat()
            result.policy["a2_max_titre"] = a2_max_titre
            for name, fact in compat.unscored().items():
                typer.echo(
                    f"note: scoring component {name!r} gave no points: {fact!r} is not known"
                    " for any transplant (not recorded in the pool)",
                    err=True,
                )
        result.timings["total"] = time.perf_counter() - began
        if output is not None:
            write_result_json(result, output, timings=not no_timings)
    shown = result_json(result, timings=not no_timings) if as_json else result_summary(result)
    typer.echo(shown, nl=False)


def _chain_cap(text: str) -> int | None:
    """``--max-chain``: a whole number of transplants, or ``unbounded`` (``None``)."""
    if text.strip().lower() == "unbounded":
        return None
    try:
        return int(text)
    except ValueError:
        _fail(f"--max-chain must be a whole number or 'unbounded', got {text!r}")


def _compatibility(
    pool: Pool,
    scoring: str | None,
    panel: Path | None,
    a2_max_titre: int | None,
    cpra_with_abo: bool,
    day: dt.date | None,
    source: Path | None,
) -> Compatibility:
    from possible.compatibility import AboRule, Rules, build_arcs
    from possible.formats._source import sourced
    from possible.hla.cpra import Panel

    reference = None if panel is None else Panel.read(_existing(panel))
    with sourced(None if source is None else str(source)):  # errors in records name the file
        return build_arcs(
            pool,
            rules=Rules(AboRule(a2_max_titre=a2_max_titre), cpra_with_abo=cpra_with_abo),
            scoring=scoring or "uk",
            panel=reference,
            as_of=day,  # only a date asked for is checked; the file's own is the pool's
        )


def _cpra_text(value: float, source: str) -> str:
    return f"{value:.1%} ({source})"


def _run_date(as_of: str | None) -> dt.date | None:
    from possible.errors import PolicyError
    from possible.formats._fields import parse_day

    if as_of is None:
        return None
    try:
        return parse_day(as_of)
    except ValueError:
        raise PolicyError(f"--as-of {as_of!r} is not a date (YYYY-MM-DD)") from None


@app.command()
def explain(
    file: Annotated[Path, typer.Argument(help="A clinical pool (possible's pool JSON).")],
    patient: Annotated[str, typer.Argument(help="Patient id.")],
    donor: Annotated[
        str | None,
        typer.Argument(help="Donor id; without it, every donor for the patient is summed up."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
    scoring: ScoringOption = None,
    panel: PanelOption = None,
    a2_max_titre: A2Option = None,
    cpra_with_abo: CpraAboOption = False,
    as_of: AsOfOption = None,
) -> None:
    """Say why a donor can or cannot give to a patient, or which donors can.

    Every rule that rules the transplant out is listed (blood group, each unacceptable antigen
    with the donor's typed name, consent and status, the centre's exclusions); a possible one
    shows its score per component and its HLA mismatch.

    Example: possible explain pool.json P0042 D0007
    """
    import json

    from possible.formats import read_pool

    with _errors():
        run_date = _run_date(as_of)
        pool = read_pool(_existing(file), as_of=run_date)
        if not pool.clinical_arcs:
            _fail(f"{file}: its arcs are given, not derived from clinical records")
        compat = _compatibility(pool, scoring, panel, a2_max_titre, cpra_with_abo, run_date, file)
        for kind, wanted, index in (
            ("patient", patient, compat.pool.patient_index),
            ("donor", donor, compat.pool.donor_index),
        ):
            if wanted is not None:
                try:
                    index(wanted)
                except KeyError:
                    _fail(f"{file}: no {kind} {wanted!r}")
        if donor is not None:
            verdict = compat.explain(donor, patient)
            doc: dict[str, Any] = {
                "donor": donor,
                "patient": patient,
                "compatible": verdict.compatible,
                "reasons": list(verdict.reasons),
                "basis": list(verdict.basis),
                "score": verdict.score,
                "breakdown": verdict.breakdown,
                "mismatch": verdict.mismatch
                and {"a_b_dr": verdict.mismatch[0], "level": verdict.mismatch[1]},
                "facts": verdict.facts,
                "cpra": verdict.sensitisation and verdict.sensitisation[0],
                "cpra_source": verdict.sensitisation and verdict.sensitisation[1],
            }
            lines = [f"{donor} -> {patient}: {'possible' if verdict.compatible else 'ruled out'}"]
            lines += [f"  - {r}" for r in verdict.reasons]
            if verdict.compatible and verdict.score is not None:
                lines.append(f"  {', '.join(verdict.basis)}")
                parts = ", ".join(f"{k} {v:g}" for k, v in verdict.breakdown.items())
                lines.append(f"  score {verdict.score:g} ({parts})")
                if verdict.mismatch is not None:
                    level = verdict.mismatch[1] or "unknown"
                    lines.append(f"  HLA mismatch {verdict.mismatch[0]}, level {level}")
                facts = ", ".join(f"{k} {v:g}" for k, v in verdict.facts.items())
                lines.append(f"  facts: {facts}")
                if verdict.sensitisation is not None:
                    lines.append(f"  patient's cPRA {_cpra_text(*verdict.sensitisation)}")
        else:
            doc = compat.patient_summary(patient)
            lines = [f"{patient}: {doc['status']}"]
            for own, why in doc["own_donors"].items():
                lines.append(f"  own donor {own}: {'; '.join(why) if why else 'may give'}")
            if not doc["can_join_an_exchange"]:
                lines.append("  cannot join an exchange (not active, or no own donor who may give)")
            if doc["cpra"] is not None:
                lines.append(f"  cPRA {_cpra_text(doc['cpra'], doc['cpra_source'])}")
            givers = doc["compatible_donors"]
            lines.append(f"  {len(givers)} compatible donor(s) who can give")
            if givers:
                lines.append("    " + ", ".join(givers))
            for other, why in doc["compatible_but_cannot_give"].items():
                lines.append(f"  compatible, cannot give: {other} ({why})")
            lines += [
                f"  ruled out, {k.replace('_', ' ')}: {n}" for k, n in doc["excluded"].items()
            ]
    if as_json:
        typer.echo(json.dumps(doc, indent=1, sort_keys=True))
    else:
        typer.echo("\n".join(lines))


@app.command()
def generate(
    patients: Annotated[int, typer.Option(help="Number of patients (with their donors).")],
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same pool.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write.")],
    ndd_share: Annotated[
        float, typer.Option(help="Non-directed donors, as a share of the patients.")
    ] = 0.05,
    file_format: Annotated[
        PoolFormat,
        typer.Option("--format", help="possible's pool JSON, or kep_solver's JSON."),
    ] = PoolFormat.pool,
    clinical: Annotated[
        bool,
        typer.Option(
            "--clinical",
            help="Draw clinical records (blood groups, HLA typings, antibodies, ages, dates; "
            "UK LKSS parameters of Delorme et al. 2022) instead of arcs; pool format only.",
        ),
    ] = False,
) -> None:
    """Write a synthetic pool, seeded: Saidman et al. (2006) arcs, or clinical records.

    Example: possible generate --clinical --patients 500 --ndd-share 0.05 --seed 1 -o pool.json
    """
    from possible.formats import write_kep_json, write_pool_json
    from possible.generate import saidman_pool

    if clinical and file_format is not PoolFormat.pool:
        _fail("--clinical writes possible's pool JSON only (kep_solver's formats hold no HLA)")
    with _errors():
        try:
            if clinical:
                from possible.generate.clinical import clinical_pool

                pool = clinical_pool(patients, ndd_share=ndd_share, seed=seed)
            else:
                pool = saidman_pool(patients, ndd_share=ndd_share, seed=seed)
        except ValueError as err:  # the generators' word on impossible sizes and shares
            _fail(str(err))
        writer = write_pool_json if file_format is PoolFormat.pool else write_kep_json
        writer(pool, output)
    what = "arcs derived at solve time" if clinical else f"{len(pool.arcs)} arcs"
    typer.echo(
        f"{output}: {len(pool.patients)} patients, {len(pool.donors)} donors, {what}", err=True
    )


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    database: Annotated[
        str | None,
        typer.Option(
            help="Database URL (default: POSSIBLE_DATABASE_URL, else sqlite:///possible.db)."
        ),
    ] = None,
    demo: Annotated[
        bool, typer.Option("--demo", help="Seed the demo programme into an empty database.")
    ] = False,
) -> None:
    """Start the registry and matching service (REST API under /api/v1).

    Example: possible serve --demo --port 8000
    """
    try:
        import uvicorn

        from possible.service.app import create_app
        from possible.service.demo import DEMO_PASSWORD, DEMO_USERS, seed_demo
        from possible.service.settings import Settings
    except ImportError as err:
        _fail(f"the service needs the 'service' extra (pip install 'possible[service]'): {err}")
    settings = Settings() if database is None else Settings(database_url=database)
    if demo and settings.environment == "production":
        _fail("--demo is for development: its passwords are public")
    try:
        application = create_app(settings)
    except RuntimeError as err:
        _fail(str(err))
    if demo and seed_demo(application.state.db):
        typer.echo("Seeded the demo programme: two centres and a generated pool.", err=True)
    url = f"http://{host}:{port}"
    typer.echo(f"possible is serving {settings.database_url} at {url}", err=True)
    typer.echo(f"  API: {url}/api/v1   interactive docs: {url}/docs", err=True)
    if demo:
        names = ", ".join(f"{u} ({r}{' of ' + c if c else ''})" for u, (r, c) in DEMO_USERS.items())
        typer.echo(f"  sign in as {names}; password {DEMO_PASSWORD!r}", err=True)
    uvicorn.run(application, host=host, port=port, log_level="info")


def main() -> None:
    """Run the command line (the ``possible`` console script)."""
    app()


def _example_pool() -> Pool:
    from possible.formats import read_pool_json

    text = resources.files("possible").joinpath("data", EXAMPLE_POOL).read_text(encoding="utf-8")
    return read_pool_json(text)


def _existing(file: Path | None) -> Path:
    assert file is not None
    if file.is_dir():
        _fail(f"{file}: a directory, not a pool file")
    if not file.exists():
        _fail(f"{file}: no such file")
    return file


@contextlib.contextmanager
def _errors() -> Iterator[None]:
    """Turn the library's errors and unreadable files into a one-line message, exit 2."""
    try:
        yield
    except PossibleError as err:
        *first, last = err.lines()
        for line in first:
            typer.echo(f"possible: error: {line}", err=True)
        _fail(last)
    except OSError as err:
        name = f"{err.filename}: " if err.filename else ""
        _fail(f"{name}{err.strerror or err}")


@contextlib.contextmanager
def _progress() -> Iterator[Callable[[str], None]]:
    """Show phase messages on stderr while solving, when stderr is a terminal."""
    if not sys.stderr.isatty():
        yield lambda _message: None
        return
    from rich.console import Console

    console = Console(stderr=True)
    with console.status("solving ...") as status:
        yield lambda message: status.update(message)


def _fail(message: str) -> NoReturn:
    typer.echo(f"possible: error: {message}", err=True)
    raise typer.Exit(2)
