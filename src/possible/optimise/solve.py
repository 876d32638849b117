"""`solve`: one matching run, from a pool (or graph) to a :class:`MatchingResult`."""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import csr_matrix, vstack

from possible.domain import PatientStatus, Pool
from possible.errors import PolicyError, SolverError
from possible.graph.compatibility import CompatibilityGraph, build_graph
from possible.graph.prune import chain_distances
from possible.optimise.backend import (
    Backend,
    LpSolution,
    MipProblem,
    MipSolution,
    MipStatus,
    RelaxationBackend,
    whole_numbers,
)
from possible.optimise.chaingen import applicable, improve_with_chains
from possible.optimise.cutsets import cut_rows, loops, repair
from possible.optimise.fixing import solve_level
from possible.optimise.formulation import (
    Formulation,
    build_formulation,
    carry_over,
    picef_chains,
)
from possible.optimise.neighbourhood import improve
from possible.optimise.objectives import Objective, Sense, hierarchy
from possible.optimise.result import (
    Exchange,
    Level,
    MatchingResult,
    Status,
    Transplant,
    Unmatched,
    UnmatchedReason,
)

__all__ = ["MAX_CHAIN_LIMIT", "solve"]

logger = logging.getLogger(__name__)

MAX_CHAIN_LIMIT = 20
"""Longest chain cap accepted (PICEF grows with the cap times the arcs)."""

REPORTED_DECIMALS = 9
"""Decimal places of the objective values and bounds a result reports (see :func:`_reported`)."""
TIGHTEN_MAX_CHAIN = 3
"""Longest chain cap for which the rounds of an integral level have their rows tightened (see
:mod:`possible.optimise.fixing`). Measured with HiGHS 1.16 on kep_solver's UK instances: with
chains of at most 2 the tightened rows settle a round above the optimum at once (1,000
patients: 0.01 s against 1.5 s) and lead HiGHS' feasibility jump straight to an optimal
solution (2,000 patients: 31 s against 194 s); with chains of 6 they slow both kinds of round
(500 patients: 40 s against 22 s for a round above the optimum, and no solution in 300 s
against 130 s for one at it)."""

EFFECTIVE_CHAIN = 2
"""Longest chain, in transplants inside the pool, that counts as an effective two-way exchange
(the UK hierarchy's first level). A longer chain counts nothing there, and cut after its
second transplant it would count one and free the pairs after, so no optimum of a hierarchy
that first maximises effective two-way exchanges holds a longer chain: such a hierarchy is
solved with chains of at most this length whatever the cap (see :func:`_model_chain`)."""

SEED_MAX_CHAIN = TIGHTEN_MAX_CHAIN
"""Chain cap of the first pass that seeds a solve with longer chains (see :func:`_seed`)."""
SEED_TIME_SHARE = 0.5
"""Under a time limit, the share of it the seeding pass may use."""
CHAINS_TIME_SHARE = 0.7
"""Of the search's time, the share for generating chains and packing them with the cycles
(:mod:`possible.optimise.chaingen`); the neighbourhood search from its answer gets the rest.
With chains of 6 and a 170 s limit, over four pools of 1,000 patients from kep_solver's UK
generator, the two together found 2,899 transplants where the neighbourhood search alone
found 2,891 (one pool 4 worse, one 9 better); see docs/engine.md."""
IMPROVE_TIME_SHARE = 0.5
"""Under a time limit, the share of the time left after seeding kept for a neighbourhood
search (see :mod:`possible.optimise.neighbourhood`), should the rounds not settle the first
level in the rest. With chains of 6, HiGHS' rounds settle pools of 500 patients in 20 to 130 s
but have not beaten the seed at 1,000 patients in 170 s, where the search from the seed finds
better solutions within seconds. A round that holds a solution one short of its target when
its share runs out goes on instead (see ``run_on_limit`` in
:func:`possible.optimise.fixing.solve_level`)."""

Progress = Callable[[str], None]


def solve(
    pool: Pool | CompatibilityGraph,
    *,
    max_cycle: int = 3,
    max_chain: int | None = 2,
    objective: str | Objective | Sequence[Objective] = "transplants",
    time_limit: float | None = None,
    backend: Backend | None = None,
    progress: Progress | None = None,
) -> MatchingResult:
    """Find the best set of cycles and chains.

    Parameters
    ----------
    pool
        The pool, or its already built compatibility graph.
    max_cycle
        Longest cycle, in transplants (0 or 1 turns cycles off).
    max_chain
        Longest chain, in transplants inside the pool (0 turns chains off; ``None`` leaves
        chains unbounded, except with the UK hierarchy). kep_solver's ``maxChainLength``
        counts the non-directed donor too: its 3 is our 2.
    objective
        ``"transplants"`` (most transplants in the pool), ``"score"`` (highest total arc
        score), ``"uk"`` (the UK scheme's five-level hierarchy), an :class:`Objective`, or a
        sequence of them solved lexicographically.
    time_limit
        Seconds for the whole optimisation; on expiry the best solution found is returned
        with status ``feasible`` and its bound. With the default backend the limit holds
        within a few seconds even where HiGHS does not watch its clock: large MIPs run in a
        child process that is killed if it overruns (:mod:`possible.optimise.deadline`).
    backend
        MIP solver; HiGHS by default.
    progress
        Called with a short message at each phase (for a progress display).

    Returns
    -------
    MatchingResult

    Raises
    ------
    PolicyError
        For negative or too large caps, an unknown objective, a non-positive time limit, or
        unbounded chains with the UK hierarchy.

    Examples
    --------
    >>> from possible.domain import Donor, Patient, Pool
    >>> pool = Pool.build(
    ...     [Patient("p1"), Patient("p2")],
    ...     [Donor("d1", patient="p1"), Donor("d2", patient="p2")],
    ...     [("d1", "p2", 1.0), ("d2", "p1", 1.0)],
    ... )
    >>> result = solve(pool)
    >>> result.status.value, result.objective, result.transplants
    ('optimal', (2.0,), 2)
    """
    levels = hierarchy(objective)
    _check_policy(max_cycle, max_chain, time_limit)
    if isinstance(pool, Pool) and pool.clinical_arcs:
        raise PolicyError(
            "this pool's arcs are to be derived from its clinical data: "
            "call possible.compatibility.build_arcs(pool) and solve its .pool"
        )
    uk = any(level.feature in ("effective_two_way", "back_arcs", "uk_score") for level in levels)
    if max_chain is None and uk:
        raise PolicyError(
            "unbounded chains are not offered with the UK hierarchy, whose model follows "
            "chains by position: give a chain cap"
        )
    cap = _model_chain(levels, max_chain)  # the model's; the policy reports `max_chain`
    tighten = cap is None or cap <= TIGHTEN_MAX_CHAIN
    user_backend = backend is not None
    if backend is None:
        from possible.optimise.highs import HighsBackend

        # Rounds with tightened rows solve their LPs faster by interior point (1,000
        # patients: 2.9 s to 2.7 s and 5.0 s to 4.1 s); without, far slower (chains of 6,
        # 500 patients: 21 s to 131 s).
        backend = HighsBackend(mip_lp_solver="ipm" if tighten else "choose")
    say = progress or (lambda _msg: None)
    timings: dict[str, float] = {}
    began = time.perf_counter()

    t0 = time.perf_counter()
    graph = pool if isinstance(pool, CompatibilityGraph) else build_graph(pool)
    timings["graph"] = time.perf_counter() - t0
    say(f"graph: {graph.n_pairs} pairs, {graph.n_ndds} NDDs, {graph.n_arcs} arcs")

    policy = {
        "max_cycle": max_cycle,
        "max_chain": max_chain,
        "objective": objective if isinstance(objective, str) else [lv.name for lv in levels],
        "time_limit": time_limit,
    }
    t0 = time.perf_counter()
    deadline = None if time_limit is None else began + time_limit
    try:
        form = build_formulation(
            graph, max_cycle=max_cycle, max_chain=cap, uk=uk, deadline=deadline
        )
    except TimeoutError:
        # The time limit passed while the cycles or the model were still being built.
        timings["model"] = time.perf_counter() - t0
        say("time limit reached while building the model")
        return MatchingResult(
            status=Status.TIME_LIMIT,
            levels=tuple(
                Level(lv.name, lv.description, lv.sense.value, math.nan, math.nan) for lv in levels
            ),
            exchanges=(),
            unmatched=_unmatched(graph, None, (), settled=False),
            ndds_to_waiting_list=tuple(graph.pool.donors[int(d)].id for d in graph.ndd_donor),
            solver={"name": backend.name, "version": backend.version},
            policy=policy,
            input_digest=graph.pool.digest(),
            timings=timings,
        )
    timings["enumerate"] = form.seconds_enumerate
    timings["model"] = time.perf_counter() - t0 - form.seconds_enumerate
    say(f"model: {len(form.cycles)} cycles, {form.problem.n_cols} columns")

    initial = None
    if cap is not None and cap > SEED_MAX_CHAIN and graph.n_ndds and form.problem.n_cols:
        t0 = time.perf_counter()
        initial = _seed(
            graph,
            form,
            levels,
            max_cycle=max_cycle,
            uk=uk,
            backend=backend if user_backend else None,
            time_limit=None if deadline is None else deadline - time.perf_counter(),
            say=say,
        )
        timings["seed"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    # A seeded run under a time limit may search after its first level's rounds. A model
    # without cycles gives the rounds all of the time: chains only, 250 patients, chains of
    # 10, 60 s, the rounds then find the optimum (120), where the search before stop 19
    # (which kept cycles only) had ended at once and the run returned after 31 s with 116.
    # The search now keeps chains too; whether it would do better there is not measured.
    searchable = initial is not None and form.n_cycle_cols > 0
    search_until = deadline if searchable else None
    first_limit = None
    if search_until is not None:
        # The first level's rounds get their share of the time left; the search the rest, if
        # they do not settle it. Later levels may use all of it.
        first_limit = (t0 - began) + max(search_until - t0, 0.0) * (1.0 - IMPROVE_TIME_SHARE)
    x, status, values, bounds = _lexicographic(
        form,
        levels,
        backend,
        time_limit,
        began,
        say,
        tighten=tighten,
        initial=initial,
        first_limit=first_limit,
    )
    timings["solve"] = time.perf_counter() - t0  # wall time: rounds may run side by side
    if (
        search_until is not None
        and status is Status.FEASIBLE
        and values[0] != bounds[0]
        and search_until > time.perf_counter()  # a round may have run on to the end
    ):
        t0 = time.perf_counter()
        say("looking for better solutions near the best found")
        x, status = _improve_first_level(
            graph, form, levels, x, backend, search_until, values, bounds
        )
        timings["improve"] = time.perf_counter() - t0
    if form.unbounded_chains and loops(form, x):
        # Every level's answer is repaired or cut free of loops; _decode would drop them.
        raise SolverError("a solution still holds loops of chain arcs that no NDD starts")
    exchanges, ndds_left = _decode(graph, form, x)
    # Chains the model left out (see `_model_chain`) are still exchanges within the caps.
    chains_to = None if cap == max_chain else max_chain  # `_model_chain` keeps None as None
    unmatched = _unmatched(
        graph, form, exchanges, settled=status is Status.OPTIMAL, chains_to=chains_to
    )
    return MatchingResult(
        status=status,
        levels=tuple(
            Level(lv.name, lv.description, lv.sense.value, v, b)
            for lv, v, b in zip(levels, values, bounds, strict=True)
        ),
        exchanges=exchanges,
        unmatched=unmatched,
        ndds_to_waiting_list=ndds_left,
        solver={"name": backend.name, "version": backend.version},
        policy=policy,
        input_digest=graph.pool.digest(),
        timings=timings,
    )


def _seed(
    graph: CompatibilityGraph,
    form: Formulation,
    levels: tuple[Objective, ...],
    *,
    max_cycle: int,
    uk: bool,
    backend: Backend | None,
    time_limit: float | None,
    say: Progress,
) -> NDArray[np.float64] | None:
    """Solve every level with chains of at most :data:`SEED_MAX_CHAIN`, as a start.

    Every solution with shorter chains is one with longer chains, so the shorter problem's
    optimum is a feasible solution of the longer one, and a good one: its rows are tightened
    (see :data:`TIGHTEN_MAX_CHAIN`), so it is solved far faster than the longer problem, whose
    relaxation ignores the caps and whose MIP can take minutes to find any solution near its
    bound. Measured with chains of 6 on kep_solver's UK pools: at 1,000 patients, chains of 3
    give 703 and 712 in 21 and 32 s, where the MIP with chains of 6 had 695 and 701 after
    120 s (bounds 718 and 736); at 2,000 patients, 1479 and 1478 in 15 and 13 s, one below the
    bounds with chains of 6 (1480, 1479), where the MIP had 1466 to 1472 after 60 to 600 s.
    The longer level starts from it: under a time limit it is the least a result is worth,
    and a round that proves the next value above it infeasible settles the level.

    Every level is seeded, not only the first: a level the longer model cannot improve on
    keeps the seed, which then starts the next level with the shorter problem's optimum
    there too. With only the first level seeded, the UK hierarchy with chains of 6 on a
    1,000-patient clinical pool ended its 300 s with 419 transplants at level 2, where chains
    of 2 alone give 536. (The UK hierarchy itself now needs no seed: see
    :data:`EFFECTIVE_CHAIN`.)

    Under a time limit the pass gets :data:`SEED_TIME_SHARE` of it. Returns ``None`` if it
    found nothing (or, defensively, if its solution does not fit `form`). Without a
    `backend` (the caller's default), the pass gets HiGHS set up for tightened rounds.
    """
    say(f"seeding with chains of at most {SEED_MAX_CHAIN}")
    began = time.perf_counter()
    share = None if time_limit is None else max(time_limit, 0.0) * SEED_TIME_SHARE
    try:
        shorter = build_formulation(
            graph,
            max_cycle=max_cycle,
            max_chain=SEED_MAX_CHAIN,
            uk=uk,
            deadline=None if share is None else began + share,
        )
    except TimeoutError:
        return None
    if backend is None:
        from possible.optimise.highs import HighsBackend

        backend = HighsBackend(mip_lp_solver="ipm")  # tightened rounds, as in `solve`
    try:
        x, status, values, _ = _lexicographic(
            shorter, levels, backend, share, began, lambda _msg: None, tighten=True
        )
    except SolverError as error:
        # The seed only helps; the longer solve meets the same solver on its own terms.
        logger.warning("the seeding pass failed (%s); solving without it", error)
        return None
    if status not in (Status.OPTIMAL, Status.FEASIBLE) or not x.any():
        return None
    mapped = carry_over(shorter, form, x)
    if mapped is None or form.problem.broken_rows(mapped, 1e-9).size:
        logger.warning("the seeding solution does not fit the model; solving without it")
        return None
    logger.debug("seeded with %s (chains of at most %d)", values[0], SEED_MAX_CHAIN)
    return mapped


def _improve_first_level(
    graph: CompatibilityGraph,
    form: Formulation,
    levels: tuple[Objective, ...],
    x: NDArray[np.float64],
    backend: Backend,
    deadline: float,
    values: list[float],
    bounds: list[float],
) -> tuple[NDArray[np.float64], Status]:
    """Search for a better first level than `x`'s until `deadline`; update `values` in place.

    For a run with long chains whose rounds stopped before settling the first level. Where the
    model's chains are pair-level PICEF (every objective but the UK hierarchy), chains are
    generated and packed with the cycles first (:mod:`possible.optimise.chaingen`, a share
    :data:`CHAINS_TIME_SHARE` of the time); the neighbourhood search
    (:mod:`possible.optimise.neighbourhood`) goes on from the best solution. Every level's
    value is then that of the solution returned; the bounds stand. A single level that
    reaches its bound is optimal.
    """
    first = levels[0]
    sign = 1.0 if first.sense is Sense.MAX else -1.0
    coef = sign * first.values(form.features)
    better = x
    if applicable(graph, form) and isinstance(backend, RelaxationBackend):
        share = CHAINS_TIME_SHARE * max(deadline - time.perf_counter(), 0.0)
        better = improve_with_chains(graph, form, coef, x, backend=backend, time_limit=share)
    better = improve(
        graph,
        form,
        coef,
        better,
        backend=backend,
        time_limit=max(deadline - time.perf_counter(), 0.0),
    )
    if not float(coef @ better) > float(coef @ x) + 1e-9:
        return x, Status.FEASIBLE
    for i in range(len(levels)):
        values[i] = math.nan
    _fill_unsettled(form, levels, better, Status.FEASIBLE, values, bounds)
    settled = len(levels) == 1 and values[0] == bounds[0]
    return better, Status.OPTIMAL if settled else Status.FEASIBLE


def _model_chain(levels: tuple[Objective, ...], max_chain: int | None) -> int | None:
    """Return the chain cap of the model that solves `levels` under `max_chain`.

    It is `max_chain`, except for a hierarchy whose first level maximises effective two-way
    exchanges: :data:`EFFECTIVE_CHAIN` at most, since no optimum of that level holds a longer
    chain, so the two caps have the same optima at every level.
    """
    first = levels[0]
    if (
        first.feature == "effective_two_way"
        and first.sense is Sense.MAX
        and max_chain is not None
        and max_chain > EFFECTIVE_CHAIN
    ):
        logger.debug(
            "chains of more than %d transplants are in no optimum of %s: solving with chains "
            "of at most %d (cap %d)",
            EFFECTIVE_CHAIN,
            first.name,
            EFFECTIVE_CHAIN,
            max_chain,
        )
        return EFFECTIVE_CHAIN
    return max_chain


def _check_policy(max_cycle: int, max_chain: int | None, time_limit: float | None) -> None:
    for name, value in (("max_cycle", max_cycle), ("max_chain", max_chain)):
        if name == "max_chain" and value is None:
            continue  # unbounded
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise PolicyError(f"{name} must be a whole number >= 0, got {value!r}")
    if max_cycle > 6:
        raise PolicyError(f"max_cycle {max_cycle} is above the supported 6")
    if max_chain is not None and max_chain > MAX_CHAIN_LIMIT:
        raise PolicyError(f"max_chain {max_chain} is above the supported {MAX_CHAIN_LIMIT}")
    if time_limit is not None and not (time_limit > 0):
        raise PolicyError(f"time_limit must be positive, got {time_limit!r}")


def _lexicographic(
    form: Formulation,
    levels: tuple[Objective, ...],
    backend: Backend,
    time_limit: float | None,
    began: float,
    say: Progress,
    *,
    tighten: bool,
    initial: NDArray[np.float64] | None = None,
    first_limit: float | None = None,
) -> tuple[NDArray[np.float64], Status, list[float], list[float]]:
    """Solve each level in turn, fixing the optimum of each before the next.

    `initial`, a feasible solution, is the first level's start (its incumbent). The first
    level must end within `first_limit` seconds of `began` (if given) as well as within
    `time_limit`; later levels have all of `time_limit`.
    """
    problem = form.problem
    n = problem.n_cols
    x = np.zeros(n) if initial is None else initial.copy()
    values = [math.nan] * len(levels)
    bounds = [math.nan] * len(levels)
    if n == 0:
        for i, level in enumerate(levels):
            values[i] = bounds[i] = level.constant(form.features)
        return x, Status.OPTIMAL, values, bounds
    fixed_rows: list[NDArray[np.float64]] = []
    fixed_lower: list[float] = []
    status = Status.OPTIMAL
    start = initial
    alive = np.ones(n, dtype=bool)
    for i, level in enumerate(levels):
        sign = 1.0 if level.sense is Sense.MAX else -1.0
        coef = sign * level.values(form.features)
        integral = _integral(level, coef)
        remaining = None if time_limit is None else time_limit - (time.perf_counter() - began)
        if i == 0 and first_limit is not None:
            first = first_limit - (time.perf_counter() - began)
            remaining = first if remaining is None else min(remaining, first)
        if remaining is not None and remaining <= 0:
            if i == 0 and initial is not None:
                # Out of time before the first level: the start is the answer.
                values[0] = _reported(float(coef @ initial) * sign + level.constant(form.features))
            status = Status.FEASIBLE if i or initial is not None else Status.TIME_LIMIT
            break
        say(f"solving level {i + 1}/{len(levels)}: {level.description}")
        level_began = time.perf_counter()
        relaxation: LpSolution | None = None
        proven = math.inf  # the optimum of a round that held loops bounds the level
        while True:
            level_problem = _with_levels(problem, coef, fixed_rows, fixed_lower)
            outcome = solve_level(
                backend,
                level_problem,
                alive,
                integral=integral,
                start=start,
                time_limit=remaining,
                tighten=tighten,
                hand_over=i == 0 and first_limit is not None,
                relaxation=relaxation,
                probe=not tighten,
                # A round one short of its target at the first level's share of the time may
                # use the search's share too (see `solve_level`).
                run_on_limit=(
                    began + time_limit - time.perf_counter()
                    if i == 0 and first_limit is not None and time_limit is not None
                    else None
                ),
            )
            sol = outcome.solution
            found = loops(form, sol.x) if form.unbounded_chains and sol.x.size else []
            if not found:
                break
            # Unbounded chains: the solution holds loops of chain arcs that no NDD starts.
            repaired = repair(form, sol.x, found, level_problem.objective)
            fits = not level_problem.broken_rows(repaired, 1e-6).size
            value = float(level_problem.objective @ repaired)
            if remaining is not None:
                remaining -= time.perf_counter() - level_began
            out_of_time = remaining is not None and remaining <= 0
            if (
                (fits and value >= sol.objective - 1e-9)
                or out_of_time
                or (sol.status is not MipStatus.OPTIMAL)
            ):
                sol = _without_loops(sol, level_problem, repaired if fits else None, start)
                outcome = dataclasses.replace(outcome, solution=sol)
                break
            proven = min(proven, sol.objective)
            logger.debug("level %d: %d loops of chain arcs cut off", i + 1, len(found))
            say(f"level {i + 1}: cutting off {len(found)} loops of chain arcs, solving again")
            # The relaxation's duals, zero on the new rows, still bound the level: the rounds
            # go on from them without solving it again.
            cuts = cut_rows(form, found)
            relaxation = _with_zero_duals(outcome.relaxation, problem.n_rows, cuts.shape[0])
            problem = _with_rows(problem, problem.objective, cuts, upper=0.0)
            if fits and (start is None or value > float(level_problem.objective @ start)):
                start = repaired
            level_began = time.perf_counter()
        if proven < sol.bound or (math.isnan(sol.bound) and math.isfinite(proven)):
            sol = dataclasses.replace(sol, bound=proven)
        logger.debug("level %d: %d of %d columns kept", i + 1, outcome.columns, n)
        constant = level.constant(form.features)
        if sol.status is MipStatus.ERROR:
            raise SolverError(f"{backend.name} failed on level {i + 1} ({level.name})")
        if sol.status in (MipStatus.OPTIMAL, MipStatus.FEASIBLE):
            x = sol.x
            start = x
            values[i] = _reported(sign * sol.objective + constant)
        if not math.isnan(sol.bound):
            bounds[i] = _reported(sign * sol.bound + constant)
        if sol.status is not MipStatus.OPTIMAL:
            status = _status_after(sol, i)
            logger.info("level %d ended with %s", i + 1, sol.status.value)
            break
        lower = sol.objective - _tolerance(integral, sol.objective)
        fixed_rows.append(coef)
        fixed_lower.append(lower)
        alive = outcome.alive_after(alive, lower)
    if status is not Status.OPTIMAL:
        _fill_unsettled(form, levels, x, status, values, bounds)
    return x, status, values, bounds


def _fill_unsettled(
    form: Formulation,
    levels: tuple[Objective, ...],
    x: NDArray[np.float64],
    status: Status,
    values: list[float],
    bounds: list[float],
) -> None:
    """Complete the levels a stopped run did not settle, in place.

    A level it never solved still has a value, that of the exchanges found (when there are
    any), and a bound from :func:`_capacity_bound`, so that every level of a built model has
    a gap.
    """
    capacity = _capacity_rows(form.problem)
    for i, level in enumerate(levels):
        sign = 1.0 if level.sense is Sense.MAX else -1.0
        per_column = level.values(form.features)
        constant = level.constant(form.features)
        if math.isnan(values[i]) and status is Status.FEASIBLE:
            values[i] = _reported(float(per_column @ x) + constant)
        if math.isnan(bounds[i]):
            best = _capacity_bound(capacity, sign * per_column)
            if _integral(level, per_column) and math.isfinite(best):  # round to whole values
                best = math.floor(best + 1e-9)
            bounds[i] = _reported(sign * best + constant)


def _capacity_rows(problem: MipProblem) -> csr_matrix:
    """Return the capacity rows of `problem` (a pair receives, an NDD gives, at most once)."""
    capacity = np.flatnonzero(problem.row_upper == 1.0)
    return problem.matrix().tocsr()[capacity]


def _capacity_bound(capacity: csr_matrix, objective: NDArray[np.float64]) -> float:
    """Return a cheap upper bound on ``max objective @ x`` from the capacity rows alone.

    Every column covers at least one capacity row (a pair receives, or an NDD gives, at most
    once). Giving each row the largest share ``c_j / k_j`` of any column through it, where
    ``k_j`` is the number of capacity rows the column covers, prices every column at its value
    or more: a feasible dual of the capacity rows, so the sum over the rows is a valid bound
    (weak, but it needs no LP).
    """
    if capacity.shape[1] == 0:
        return 0.0
    covered = np.asarray(capacity.sum(axis=0)).ravel()
    if np.any((covered == 0) & (objective > 0)):
        return math.inf
    share = np.where(covered > 0, np.maximum(objective, 0.0) / np.maximum(covered, 1.0), 0.0)
    if capacity.shape[0] == 0:
        return 0.0
    best = capacity.multiply(share[None, :]).max(axis=1)
    return float(np.asarray(best.todense()).sum())


def _reported(value: float) -> float:
    """`value` rounded to :data:`REPORTED_DECIMALS` places.

    A score level's value is a float sum over the chosen arcs, so two optimal solutions can
    differ in the last digit (1904.9941700000002 against 1904.99417); rounding keeps reported
    values to what the scores mean. Later levels are fixed with the unrounded value.
    """
    return round(value, REPORTED_DECIMALS)


def _status_after(sol: MipSolution, level: int) -> Status:
    if sol.status is MipStatus.INFEASIBLE:
        return Status.INFEASIBLE
    if sol.status is MipStatus.FEASIBLE or level > 0:
        return Status.FEASIBLE
    return Status.TIME_LIMIT


def _integral(level: Objective, values: NDArray[np.float64]) -> bool:
    """Whether every solution of a level is worth a whole number.

    Some levels are by definition (transplants); a score level is when every column's score is
    a whole number, as in pools whose arcs all score 1 (kep_solver's generated instances).
    Such a level is then solved as integral: targets at whole numbers, row tightening and
    the search for feasibility (uk_1000_2, scores of 1, unbounded chains: 33 s to 3 s).
    """
    return level.integral or whole_numbers(values)


def _tolerance(integral: bool, value: float) -> float:
    """How far below its optimum a fixed level may fall: half a unit for integral levels."""
    return 0.5 if integral else 1e-6 * max(1.0, abs(value))


def _with_levels(
    problem: MipProblem,
    objective: NDArray[np.float64],
    rows: list[NDArray[np.float64]],
    lower: list[float],
) -> MipProblem:
    """Return the problem with `objective` and extra rows ``rows[i] @ x >= lower[i]``."""
    if not rows:
        return dataclasses.replace(problem, objective=objective)
    return _with_rows(problem, objective, csr_matrix(np.vstack(rows)), lower=np.asarray(lower))


def _with_rows(
    problem: MipProblem,
    objective: NDArray[np.float64],
    extra: csr_matrix,
    *,
    lower: float | NDArray[np.float64] = -np.inf,
    upper: float | NDArray[np.float64] = np.inf,
) -> MipProblem:
    """Return the problem with `objective` and the rows ``lower <= extra @ x <= upper``."""
    matrix = vstack([problem.matrix(), extra], format="csc")
    matrix.sort_indices()
    n = extra.shape[0]
    return MipProblem(
        objective,
        matrix.indptr.astype(np.int32),
        matrix.indices.astype(np.int32),
        matrix.data.astype(np.float64),
        np.concatenate([problem.row_lower, np.broadcast_to(lower, (n,))]),
        np.concatenate([problem.row_upper, np.broadcast_to(upper, (n,))]),
    )


def _with_zero_duals(lp: LpSolution | None, at: int, count: int) -> LpSolution | None:
    """Return `lp` with `count` zero duals inserted at row `at` (for rows added there)."""
    if lp is None:
        return None
    dual = np.insert(lp.row_dual, at, np.zeros(count))
    return dataclasses.replace(lp, row_dual=dual)


def _without_loops(
    sol: MipSolution,
    problem: MipProblem,
    repaired: NDArray[np.float64] | None,
    start: NDArray[np.float64] | None,
) -> MipSolution:
    """Answer a level whose solution `sol` holds loops of chain arcs, with no further solve.

    `repaired` is `sol` without them (``None`` if it breaks `problem`'s rows). If it is worth
    as much as `sol` (every loop was a cycle), it replaces `sol`, optimal or not. Otherwise the
    better of it and the level's `start` is the level's answer, feasible only: `sol`'s value
    counted the loops, its bound still holds.
    """
    if repaired is not None:
        value = float(problem.objective @ repaired)
        if value >= sol.objective - 1e-9:
            return dataclasses.replace(sol, x=repaired, objective=value)
    kept = [x for x in (repaired, start) if x is not None]
    if not kept:
        return MipSolution(MipStatus.TIME_LIMIT, np.zeros(0), math.nan, sol.bound, sol.seconds)
    best = max(kept, key=lambda x: float(problem.objective @ x))
    value = float(problem.objective @ best)
    return MipSolution(MipStatus.FEASIBLE, best, value, sol.bound, sol.seconds)


def _decode(
    g: CompatibilityGraph, form: Formulation, x: NDArray[np.float64]
) -> tuple[tuple[Exchange, ...], tuple[str, ...]]:
    """Turn the selected columns into exchanges, in canonical order."""
    pool = g.pool
    chosen = np.flatnonzero(x > 0.5) if x.size else np.zeros(0, np.int64)

    parts = pool.arcs.parts
    keys = pool.arcs.donor.astype(np.int64) * len(pool.patients) + pool.arcs.patient

    def transplant(arc: int) -> Transplant:
        donor = int(g.donor[arc])
        patient = int(g.vertex_patient[g.target[arc]])
        breakdown: tuple[tuple[str, float], ...] = ()
        if parts:
            k = int(np.searchsorted(keys, donor * len(pool.patients) + patient))
            breakdown = tuple((name, float(v[k])) for name, v in parts.items())
        return Transplant(
            pool.donors[donor].id, pool.patients[patient].id, float(g.score[arc]), breakdown
        )

    exchanges: list[Exchange] = []
    n_cyc, n_ch = form.n_cycle_cols, form.n_chain_cols
    for c in chosen[chosen < n_cyc].tolist():
        arcs = [int(a) for a in form.cycle_arcs[c] if a >= 0]
        exchanges.append(Exchange("cycle", tuple(transplant(a) for a in arcs)))
    for c in (chosen[(chosen >= n_cyc) & (chosen < n_cyc + n_ch)] - n_cyc).tolist():
        arcs = [int(a) for a in form.chain_arcs[c] if a >= 0]
        end = pool.donors[int(form.chain_end_donor[c])].id
        exchanges.append(Exchange("chain", tuple(transplant(a) for a in arcs), end))
    for chain in picef_chains(form, x):
        node = int(form.arc_dst[chain[-1]])
        donor = int(form.node_donor[node])
        if donor < 0:  # pair-level node: the pair's first donor gives to the waiting list
            donor = int(g.donors_of(int(form.node_vertex[node]))[0])
        arcs = form.arc_id[chain].tolist()
        exchanges.append(
            Exchange("chain", tuple(transplant(a) for a in arcs), pool.donors[donor].id)
        )
    exchanges.sort(key=lambda e: (e.kind, e.transplants[0].donor, e.length))
    starting = {e.transplants[0].donor for e in exchanges if e.kind == "chain"}
    ndds_left = tuple(
        pool.donors[int(d)].id for d in g.ndd_donor if pool.donors[int(d)].id not in starting
    )
    return tuple(exchanges), ndds_left


def _unmatched(
    g: CompatibilityGraph,
    form: Formulation | None,
    exchanges: tuple[Exchange, ...],
    *,
    settled: bool,
    chains_to: int | None = None,
) -> tuple[Unmatched, ...]:
    """Every patient without a transplant, with the reason.

    Unless the run was `settled` (proven optimal), a patient who could take part in an
    exchange was not shown to lose to better ones: the run stopped first. Without a model
    (`form` is ``None``: the run stopped while building it), whether the caps leave a patient
    any exchange is not known either. `chains_to`, when given, is the chain cap asked for
    where the model's was shorter: a patient a chain of that length reaches has an exchange
    within the caps, which the model left out because it is in no optimum.
    """
    pool = g.pool
    received = {t.patient for e in exchanges for t in e.transplants}
    has_in = np.zeros(g.n_vertices, dtype=bool)
    has_in[g.target] = True
    in_model = np.zeros(g.n_vertices, dtype=bool)
    if form is None:
        in_model[:] = True
    else:
        valid = form.cycles.vertices >= 0
        in_model[form.cycles.vertices[valid]] = True
        if form.n_chain_cols:
            src = g.target[form.chain_arcs[form.chain_arcs >= 0]]
            in_model[src] = True
        if form.arc_dst.size:
            in_model[form.node_vertex[form.arc_dst]] = True
    if chains_to is not None and g.n_ndds:
        hops = chain_distances(g.indptr, g.target, g.n_pairs, g.n_ndds, chains_to)
        in_model[: g.n_pairs] |= hops[: g.n_pairs] <= chains_to
    out: list[Unmatched] = []
    for i, patient in enumerate(pool.patients):
        if patient.id in received:
            continue
        v = int(g.patient_vertex[i])
        if patient.status is not PatientStatus.ACTIVE:
            reason = UnmatchedReason.NOT_ACTIVE
        elif v < 0:
            reason = UnmatchedReason.NO_PAIRED_DONOR
        elif not has_in[v]:
            reason = UnmatchedReason.NO_COMPATIBLE_DONOR
        elif not in_model[v]:
            reason = UnmatchedReason.NO_EXCHANGE_WITHIN_CAPS
        elif settled:
            reason = UnmatchedReason.OUTCOMPETED
        else:
            reason = UnmatchedReason.NOT_SETTLED
        out.append(Unmatched(patient.id, reason))
    return tuple(out)
