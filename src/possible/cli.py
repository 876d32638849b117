"""The ``possible`` command line: thin adapters over one library call each.

Every :class:`~possible.errors.PossibleError` (and an unreadable file) becomes a one-line
message on stderr and exit status 2; nothing is written to a file unless the command
succeeded.
"""

from __future__ import annotations

import contextlib
import enum
import sys
import time
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from possible.domain import Pool
from possible.errors import PossibleError

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
        int,
        typer.Option(
            help="Longest chain, in transplants inside the pool (kep_solver's "
            "maxChainLength minus one); 0 turns chains off."
        ),
    ] = 2,
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
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Also write the JSON result to this file."),
    ] = None,
    example: Annotated[
        bool, typer.Option("--example", help="Solve the bundled 60-patient demo pool.")
    ] = False,
) -> None:
    """Find the best cycles and chains of a pool.

    Example: possible solve pool.json --max-cycle 3 --max-chain 2 --objective uk --json
    """
    from possible.formats import read_pool
    from possible.optimise import solve as solve_pool
    from possible.optimise.report import result_json, result_summary, write_result_json

    if (file is None) == (not example):
        _fail("give a pool FILE, or --example for the bundled demo pool")
    with _errors():
        began = time.perf_counter()
        pool = _example_pool() if example else read_pool(_existing(file))
        read_seconds = time.perf_counter() - began
        with _progress() as say:
            result = solve_pool(
                pool,
                max_cycle=max_cycle,
                max_chain=max_chain,
                objective=objective.value,
                time_limit=time_limit,
                progress=say,
            )
        result.timings["read"] = read_seconds
        result.timings["total"] = time.perf_counter() - began
        if output is not None:
            write_result_json(result, output)
    typer.echo(result_json(result) if as_json else result_summary(result), nl=False)


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
) -> None:
    """Write a synthetic pool (Saidman et al. 2006 parameters), seeded.

    Example: possible generate --patients 500 --ndd-share 0.05 --seed 1 -o pool.json
    """
    from possible.formats import write_kep_json, write_pool_json
    from possible.generate import saidman_pool

    with _errors():
        pool = saidman_pool(patients, ndd_share=ndd_share, seed=seed)
        writer = write_pool_json if file_format is PoolFormat.pool else write_kep_json
        writer(pool, output)
    typer.echo(
        f"{output}: {len(pool.patients)} patients, {len(pool.donors)} donors, "
        f"{len(pool.arcs)} arcs",
        err=True,
    )


def main() -> None:
    """Run the command line (the ``possible`` console script)."""
    app()


def _example_pool() -> Pool:
    from possible.formats import read_pool_json

    text = resources.files("possible").joinpath("data", EXAMPLE_POOL).read_text(encoding="utf-8")
    return read_pool_json(text)


def _existing(file: Path | None) -> Path:
    assert file is not None
    if not file.is_file():
        _fail(f"{file}: no such file")
    return file


@contextlib.contextmanager
def _errors() -> Iterator[None]:
    """Turn the library's errors and unreadable files into a one-line message, exit 2."""
    try:
        yield
    except PossibleError as err:
        _fail(str(err))
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
