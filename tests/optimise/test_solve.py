from __future__ import annotations

import itertools
import json
import logging
import math
import random
import threading

import networkx as nx
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.sparse import csc_matrix

from conftest import ExpiringHighs
from oracles import (
    SETTINGS,
    PoolView,
    approx_equal,
    assert_valid,
    best_packing,
    pool_of,
    pools,
    random_pool,
    result_values,
)
from possible.domain import Donor, Patient, Pool
from possible.errors import PolicyError, PossibleError, SolverError
from possible.generate import saidman_pool
from possible.graph import build_graph
from possible.optimise import (
    MatchingResult,
    MipProblem,
    MipStatus,
    Status,
    UnmatchedReason,
    solve,
)
from possible.optimise.backend import LpSolution
from possible.optimise.highs import HighsBackend

# HiGHS 1.16, given a warm start, could finish "optimal" with the right objective value but
# other column values; HighsBackend no longer passes starts on. These pools caught it.

# (max_cycle, max_chain): every cycle cap with every chain cap, and each alone.
CAPS = [(mc, mch) for mc in (0, 2, 3, 4) for mch in (0, 1, 2, 3) if (mc, mch) != (0, 0)]


def as_bytes(result: MatchingResult) -> bytes:
    return json.dumps(result.to_dict(timings=False), sort_keys=True, allow_nan=False).encode()


# --- (1) two-way cycles only: a maximum matching -----------------------------------------


def mutual_compatibility(pool: Pool) -> nx.Graph:
    """Pairs joined when each can give to the other, weighted by both best arc scores."""
    view = PoolView(pool)
    best: dict[tuple[str, str], float] = {}
    for (donor, patient), score in view.score.items():
        giver = view.paired_with[donor]
        if giver is not None and patient in view.donors_of:
            best[giver, patient] = max(score, best.get((giver, patient), -1.0))
    graph = nx.Graph()
    graph.add_nodes_from(view.pairs)
    for (u, v), score in best.items():
        if u < v and (v, u) in best:
            graph.add_edge(u, v, weight=score + best[v, u])
    return graph


def check_matching_optimum(pool: Pool) -> None:
    graph = mutual_compatibility(pool)
    cardinality = nx.max_weight_matching(graph, maxcardinality=True, weight=None)
    by_count = solve(pool, max_cycle=2, max_chain=0, objective="transplants")
    assert by_count.objective == (2.0 * len(cardinality),)
    heaviest = nx.max_weight_matching(graph)
    weight = sum(graph.edges[u, v]["weight"] for u, v in heaviest)
    by_score = solve(pool, max_cycle=2, max_chain=0, objective="score")
    assert by_score.objective[0] == pytest.approx(weight, abs=1e-6)
    for result in (by_count, by_score):
        assert_valid(pool, result, max_cycle=2, max_chain=0)
        assert all(e.kind == "cycle" and e.length == 2 for e in result.exchanges)
        pairs = [tuple(sorted(t.patient for t in e.transplants)) for e in result.exchanges]
        assert all(graph.has_edge(u, v) for u, v in pairs)
    assert sum(t.score for e in by_score.exchanges for t in e.transplants) == pytest.approx(weight)


@SETTINGS
@given(pool=pools(max_pairs=9, max_ndds=2, max_donors=3))
def test_two_way_cycles_alone_give_a_maximum_matching(pool: Pool) -> None:
    check_matching_optimum(pool)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_two_way_cycles_alone_give_a_maximum_matching_on_larger_pools(seed: int) -> None:
    check_matching_optimum(random_pool(seed, n_pairs=40, n_ndds=3, density=0.12, n_lone=2))


def test_two_way_cycles_alone_give_a_maximum_matching_on_a_saidman_pool() -> None:
    check_matching_optimum(saidman_pool(80, ndd_share=0.05, seed=11))


# --- (2) tiny pools against a brute force over every packing -----------------------------


def check_brute_force(pool: Pool, objective: str, backend: object) -> None:
    for max_cycle, max_chain in CAPS:
        result = solve(
            pool,
            max_cycle=max_cycle,
            max_chain=max_chain,
            objective=objective,
            backend=backend,  # type: ignore[arg-type]
        )
        expected = best_packing(pool, max_cycle=max_cycle, max_chain=max_chain, objective=objective)
        assert result.status is Status.OPTIMAL
        assert approx_equal(result.objective, expected), (max_cycle, max_chain, result.objective)
        assert approx_equal(result.bound, expected)
        assert_valid(pool, result, max_cycle=max_cycle, max_chain=max_chain)


@pytest.mark.parametrize("objective", ["transplants", "score"])
@SETTINGS
@given(pool=pools(max_pairs=7, max_ndds=2))
def test_optimum_equals_brute_force_without_warm_starts(
    fakes: object, objective: str, pool: Pool
) -> None:
    check_brute_force(pool, objective, fakes.cold_start_highs())  # type: ignore[attr-defined]


# Found by the brute-force comparison and shrunk by hand: five pairs, two NDDs, chains of up to
# three transplants. The best total score is 35.5 (n0 -> p4 -> p0 -> p3 and n1 -> p2 -> p1).
WARM_START_SCORE_POOL = pool_of(
    {"d0": "p0", "d1": "p1", "d2": "p2", "d3": "p3", "d4": "p4", "n0": None, "n1": None},
    [
        ("d0", "p3", 10.0),
        ("d1", "p0", 3.0),
        ("d1", "p2", 10.0),
        ("d2", "p1", 4.5),
        ("d2", "p4", 1.0),
        ("d3", "p4", 2.0),
        ("d4", "p0", 1.0),
        ("n0", "p1", 10.0),
        ("n0", "p4", 10.0),
        ("n1", "p0", 2.0),
        ("n1", "p2", 10.0),
    ],
)

# The same kind of find for the UK hierarchy (its second level is solved from the first's
# solution): seven pairs, one NDD, cycles of 3 and chains of 1.
WARM_START_UK_POOL = pool_of(
    {f"d{i}": f"p{i}" for i in range(7)} | {"n0": None},
    [
        ("d0", "p2", 1.0),
        ("d0", "p6", 3.0),
        ("d1", "p3", 3.0),
        ("d2", "p0", 3.0),
        ("d2", "p3", 10.0),
        ("d3", "p2", 3.0),
        ("d3", "p4", 4.5),
        ("d3", "p5", 3.0),
        ("d4", "p1", 1.0),
        ("d4", "p3", 2.0),
        ("d4", "p6", 4.5),
        ("d5", "p1", 2.0),
        ("d6", "p0", 2.0),
        ("d6", "p3", 2.0),
        ("n0", "p0", 4.5),
        ("n0", "p5", 10.0),
        ("n0", "p6", 3.0),
    ],
)


def test_the_warm_start_pools_are_solved_right_without_warm_starts(fakes: object) -> None:
    backend = fakes.cold_start_highs()  # type: ignore[attr-defined]
    score = solve(
        WARM_START_SCORE_POOL, max_cycle=0, max_chain=3, objective="score", backend=backend
    )
    assert score.objective == (35.5,)
    uk = solve(WARM_START_UK_POOL, max_cycle=3, max_chain=1, objective="uk", backend=backend)
    expected = best_packing(WARM_START_UK_POOL, max_cycle=3, max_chain=1, objective="uk")
    assert approx_equal(uk.objective, expected)


def test_the_default_backend_finds_the_best_score() -> None:
    result = solve(WARM_START_SCORE_POOL, max_cycle=0, max_chain=3, objective="score")
    assert result.objective == (35.5,)


class Recording:
    """HiGHS, keeping every problem and warm start solve() gives it."""

    name = "highs"
    version = "recording"

    def __init__(self) -> None:
        self.calls: list[tuple[object, object]] = []

    def solve(self, problem, *, time_limit=None, start=None, target=None):  # type: ignore[no-untyped-def]
        self.calls.append((problem, start))
        return HighsBackend().solve(problem, time_limit=time_limit, start=start)


def test_highs_finds_the_same_optimum_with_and_without_a_warm_start() -> None:
    recording = Recording()
    solve(WARM_START_UK_POOL, max_cycle=3, max_chain=1, objective="uk", backend=recording)
    warm = [(p, s) for p, s in recording.calls if s is not None]
    assert warm, "the hierarchy's later levels start from the earlier levels' solutions"
    for problem, start in warm:
        cold = HighsBackend().solve(problem)  # type: ignore[arg-type]
        started = HighsBackend().solve(problem, start=start)  # type: ignore[arg-type]
        assert started.objective == pytest.approx(cold.objective)


@pytest.mark.parametrize("objective", ["transplants", "score"])
@SETTINGS
@given(pool=pools(max_pairs=5, max_ndds=1))
def test_optimum_equals_brute_force_on_very_small_pools(objective: str, pool: Pool) -> None:
    check_brute_force(pool, objective, None)


# --- (3) properties of every result --------------------------------------------------------


@SETTINGS
@given(
    pool=pools(max_pairs=8, max_ndds=3, max_lone=2, max_donors=3),
    caps=st.sampled_from([*CAPS, (0, 0), (5, 4), (6, 6)]),
    objective=st.sampled_from(["transplants", "score", "uk"]),
)
def test_every_result_is_a_valid_packing(pool: Pool, caps: tuple[int, int], objective: str) -> None:
    max_cycle, max_chain = caps
    result = solve(pool, max_cycle=max_cycle, max_chain=max_chain, objective=objective)
    assert result.status is Status.OPTIMAL
    assert_valid(pool, result, max_cycle=max_cycle, max_chain=max_chain)
    # The objective is what the selected exchanges are worth, level by level.
    recomputed = result_values(pool, result, max_cycle=max_cycle, objective=objective)
    assert approx_equal(result.objective, recomputed)
    assert result.transplants == sum(e.length for e in result.exchanges)
    # A canonical order: chains, then cycles, each by the donor giving first.
    order = [(e.kind, e.transplants[0].donor) for e in result.exchanges]
    assert order == sorted(order)
    assert result.input_digest == pool.digest()
    assert result.policy["max_cycle"] == max_cycle
    assert result.policy["max_chain"] == max_chain


def test_unmatched_reasons_on_a_hand_made_pool() -> None:
    # a can swap with b or with i, not both; c is compatible only with d's donor, and d with
    # nobody; e has no donor; f, g and h could swap in a three-way cycle only.
    pool = pool_of(
        {f"d{x}": x for x in "abcdfghi"},
        [
            ("da", "b", 1),
            ("db", "a", 1),
            ("da", "i", 1),
            ("di", "a", 1),
            ("dd", "c", 1),
            ("df", "g", 1),
            ("dg", "h", 1),
            ("dh", "f", 1),
            ("da", "e", 1),
        ],
        lone=["e"],
    )
    result = solve(pool, max_cycle=2, max_chain=0)
    reasons = {u.patient: u.reason for u in result.unmatched}
    (loser,) = {"b", "i"} & set(reasons)
    assert reasons == {
        "c": UnmatchedReason.NO_EXCHANGE_WITHIN_CAPS,
        "d": UnmatchedReason.NO_COMPATIBLE_DONOR,
        "e": UnmatchedReason.NO_PAIRED_DONOR,
        "f": UnmatchedReason.NO_EXCHANGE_WITHIN_CAPS,
        "g": UnmatchedReason.NO_EXCHANGE_WITHIN_CAPS,
        "h": UnmatchedReason.NO_EXCHANGE_WITHIN_CAPS,
        loser: UnmatchedReason.OUTCOMPETED,
    }
    # With three-way cycles f, g and h swap.
    wider = {u.patient for u in solve(pool, max_cycle=3, max_chain=0).unmatched}
    assert wider - {"b", "i"} == {"c", "d", "e"}
    assert len(wider & {"b", "i"}) == 1


def test_a_chain_may_end_with_any_donor_of_its_last_pair() -> None:
    pool = pool_of(
        {"n": None, "d1": "p", "d2": "p", "e": "q"},
        [("n", "p", 2.0), ("d2", "q", 3.0)],
    )
    result = solve(pool, max_cycle=3, max_chain=2, objective="score")
    (chain,) = result.exchanges
    # p's second donor passes the chain on to q, whose only donor then gives to the list.
    assert [(t.donor, t.patient) for t in chain.transplants] == [("n", "p"), ("d2", "q")]
    assert chain.to_waiting_list == "e"
    assert result.ndds_to_waiting_list == ()
    one = solve(pool, max_cycle=3, max_chain=1)
    (short,) = one.exchanges
    assert short.to_waiting_list in {"d1", "d2"}
    assert one.objective == (1.0,)


def test_an_empty_pool_gives_an_empty_optimal_result() -> None:
    result = solve(Pool.build([], []), objective="uk")
    assert result.status is Status.OPTIMAL
    assert result.exchanges == () == result.unmatched == result.ndds_to_waiting_list
    assert result.objective == (0.0, 0.0, 0.0, 0.0, 0.0)


def test_a_pool_without_arcs_leaves_every_ndd_to_the_waiting_list() -> None:
    pool = pool_of({"n2": None, "n1": None, "d": "p"}, [])
    result = solve(pool, objective="uk")
    assert result.status is Status.OPTIMAL
    assert result.ndds_to_waiting_list == ("n1", "n2")
    assert result.objective[1] == 2.0  # each NDD's gift to the list counts as a UK transplant
    assert [(u.patient, u.reason) for u in result.unmatched] == [
        ("p", UnmatchedReason.NO_COMPATIBLE_DONOR)
    ]


def test_solving_the_graph_equals_solving_the_pool() -> None:
    pool = random_pool(5, n_pairs=12, n_ndds=2, density=0.25)
    assert as_bytes(solve(build_graph(pool))) == as_bytes(solve(pool))


# --- (4) determinism -------------------------------------------------------------------------


@pytest.mark.parametrize("objective", ["transplants", "score", "uk"])
def test_the_same_pool_gives_byte_identical_results(objective: str) -> None:
    pool = random_pool(7, n_pairs=30, n_ndds=3, density=0.15, n_lone=2)
    first = solve(pool, max_cycle=3, max_chain=3, objective=objective)
    second = solve(pool, max_cycle=3, max_chain=3, objective=objective)
    assert as_bytes(first) == as_bytes(second)


def shuffled(pool: Pool, seed: int) -> Pool:
    """The same records, given to Pool.build in another order."""
    rng = random.Random(seed)
    patients, donors = list(pool.patients), list(pool.donors)
    arcs = [
        (pool.donors[d].id, pool.patients[p].id, s)
        for d, p, s in zip(
            pool.arcs.donor.tolist(),
            pool.arcs.patient.tolist(),
            pool.arcs.score.tolist(),
            strict=True,
        )
    ]
    for records in (patients, donors, arcs):
        rng.shuffle(records)
    return Pool.build(patients, donors, arcs)


def renamed(pool: Pool, name: dict[str, str]) -> Pool:
    return Pool.build(
        [Patient(name[p.id], p.blood_group, p.cpra) for p in pool.patients],
        [
            Donor(name[d.id], name[d.patient] if d.patient else None, d.blood_group, d.age)
            for d in pool.donors
        ],
        arc_arrays=(
            [name[pool.donors[d].id] for d in pool.arcs.donor.tolist()],
            [name[pool.patients[p].id] for p in pool.arcs.patient.tolist()],
            pool.arcs.score.tolist(),
        ),
    )


@pytest.mark.parametrize("objective", ["transplants", "score", "uk"])
@pytest.mark.parametrize("seed", [0, 1])
def test_input_order_does_not_matter(objective: str, seed: int) -> None:
    pool = random_pool(seed, n_pairs=25, n_ndds=3, density=0.15, n_lone=1)
    permuted = shuffled(pool, seed)
    a = solve(pool, max_cycle=3, max_chain=2, objective=objective)
    b = solve(permuted, max_cycle=3, max_chain=2, objective=objective)
    assert as_bytes(a) == as_bytes(b)


@pytest.mark.parametrize("objective", ["transplants", "score", "uk"])
def test_renaming_in_order_renames_the_result(objective: str) -> None:
    pool = random_pool(3, n_pairs=25, n_ndds=3, density=0.15, n_lone=1)
    ids = [p.id for p in pool.patients] + [d.id for d in pool.donors]
    # "x" + id keeps every sort order, so the engine sees the very same arrays.
    name = {i: "x" + i for i in ids}
    a = solve(pool, max_cycle=3, max_chain=2, objective=objective).to_dict(timings=False)
    b = solve(renamed(pool, name), max_cycle=3, max_chain=2, objective=objective).to_dict(
        timings=False
    )
    del a["input_digest"], b["input_digest"]
    text = json.dumps(a, sort_keys=True)
    for old in sorted(ids, key=len, reverse=True):
        text = text.replace(f'"{old}"', f'"x{old}"')
    assert text == json.dumps(b, sort_keys=True)


@pytest.mark.parametrize("objective", ["transplants", "score", "uk"])
def test_renaming_in_another_order_keeps_the_optimum(objective: str) -> None:
    pool = random_pool(4, n_pairs=25, n_ndds=3, density=0.15, n_lone=1)
    ids = [p.id for p in pool.patients] + [d.id for d in pool.donors]
    new = [f"z{k:03d}" for k in range(len(ids))]
    random.Random(4).shuffle(new)
    result = solve(renamed(pool, dict(zip(ids, new, strict=True))), objective=objective)
    assert approx_equal(result.objective, solve(pool, objective=objective).objective)


# --- (5) policy errors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"max_cycle": -1}, "max_cycle"),
        ({"max_chain": -1}, "max_chain"),
        ({"max_cycle": 7}, "max_cycle"),
        ({"max_chain": 21}, "max_chain"),
        ({"max_cycle": 2.0}, "max_cycle"),
        ({"max_chain": True}, "max_chain"),
        ({"objective": "most"}, "most"),
        ({"objective": []}, "objective"),
        ({"time_limit": 0}, "time_limit"),
        ({"time_limit": -5.0}, "time_limit"),
        ({"time_limit": math.nan}, "time_limit"),
    ],
)
def test_impossible_policies_raise_policy_error(options: dict[str, object], match: str) -> None:
    pool = pool_of({"d1": "p1", "d2": "p2"}, [("d1", "p2", 1), ("d2", "p1", 1)])
    with pytest.raises(PolicyError, match=match) as caught:
        solve(pool, **options)  # type: ignore[arg-type]
    assert isinstance(caught.value, PossibleError)


@pytest.mark.parametrize(
    "options",
    [{"max_cycle": 0, "max_chain": 0}, {"max_cycle": 1}, {"max_cycle": 6, "max_chain": 20}],
)
def test_extreme_but_possible_policies_are_accepted(options: dict[str, int]) -> None:
    pool = pool_of({"d1": "p1", "d2": "p2"}, [("d1", "p2", 1), ("d2", "p1", 1)])
    result = solve(pool, **options)  # type: ignore[arg-type]
    assert result.status is Status.OPTIMAL
    expected = 2.0 if options.get("max_cycle", 3) >= 2 else 0.0
    assert result.objective == (expected,)


# --- (6) fake backends ---------------------------------------------------------------------


@pytest.mark.parametrize("objective", ["transplants", "score", "uk"])
@SETTINGS
@given(
    pool=pools(max_pairs=4, max_ndds=1, max_lone=0),
    caps=st.sampled_from([(2, 0), (3, 0), (0, 2), (2, 1), (3, 2), (3, 3)]),
)
def test_a_brute_force_backend_finds_the_optimum_highs_finds(
    fakes: object, objective: str, pool: Pool, caps: tuple[int, int]
) -> None:
    max_cycle, max_chain = caps
    backend = fakes.brute_force()  # type: ignore[attr-defined]
    fake = solve(
        pool, max_cycle=max_cycle, max_chain=max_chain, objective=objective, backend=backend
    )
    highs = solve(pool, max_cycle=max_cycle, max_chain=max_chain, objective=objective)
    expected = best_packing(pool, max_cycle=max_cycle, max_chain=max_chain, objective=objective)
    assert fake.status is Status.OPTIMAL
    assert fake.solver == {"name": "brute-force", "version": "0"}
    assert approx_equal(fake.objective, expected)
    assert approx_equal(fake.objective, highs.objective)
    assert_valid(pool, fake, max_cycle=max_cycle, max_chain=max_chain)
    assert len(backend.calls) <= len(expected)  # at most one solve per level


@SETTINGS
@given(
    n_cols=st.integers(0, 9),
    n_rows=st.integers(0, 4),
    seed=st.integers(0, 2**16),
)
def test_the_brute_force_backend_is_exhaustive(
    fakes: object, n_cols: int, n_rows: int, seed: int
) -> None:
    # Checked against plain enumeration of every 0/1 vector, on problems with mixed signs.
    rng = np.random.default_rng(seed)
    dense = rng.integers(-2, 3, size=(n_rows, n_cols)).astype(np.float64)
    dense[rng.random((n_rows, n_cols)) < 0.4] = 0.0
    objective = rng.integers(-3, 6, size=n_cols).astype(np.float64)
    lower = np.where(rng.random(n_rows) < 0.5, -np.inf, rng.integers(-2, 2, n_rows))
    upper = np.where(rng.random(n_rows) < 0.2, np.inf, rng.integers(0, 3, n_rows))
    matrix = csc_matrix(dense)
    matrix.sort_indices()
    problem = MipProblem(
        objective,
        matrix.indptr.astype(np.int32),
        matrix.indices.astype(np.int32),
        matrix.data.astype(np.float64),
        lower.astype(np.float64),
        upper.astype(np.float64),
    )
    best = -math.inf
    for bits in itertools.product((0.0, 1.0), repeat=n_cols):
        x = np.array(bits)
        activity = dense @ x
        if np.all(activity >= lower) and np.all(activity <= upper):
            best = max(best, float(objective @ x))
    answer = fakes.brute_force().solve(problem)  # type: ignore[attr-defined]
    if best == -math.inf:
        assert answer.status is MipStatus.INFEASIBLE
    else:
        assert answer.status is MipStatus.OPTIMAL
        assert answer.objective == best
        activity = dense @ answer.x
        assert np.all(activity >= lower)
        assert np.all(activity <= upper)


# A pool with an optimum of 4 transplants and of score 13 (two two-way cycles), and an NDD.
SMALL = pool_of(
    {"n": None, "da": "a", "db": "b", "dc": "c", "dd": "d"},
    [
        ("da", "b", 1.0),
        ("db", "a", 2.0),
        ("dc", "d", 3.0),
        ("dd", "c", 7.0),
        ("n", "a", 1.0),
        ("db", "c", 1.0),
    ],
)


def test_a_feasible_answer_gives_status_feasible_with_the_bound(fakes: object) -> None:
    backend = fakes.scripted([MipStatus.FEASIBLE], gap=1.25)  # type: ignore[attr-defined]
    result = solve(SMALL, max_cycle=2, max_chain=0, objective="score", backend=backend)
    assert result.status is Status.FEASIBLE
    assert result.objective == (13.0,)
    assert result.bound == (14.25,)
    assert result.levels[0].gap == pytest.approx(1.25 / 13.0)
    assert_valid(SMALL, result, max_cycle=2, max_chain=0)
    assert result.to_dict()["status"] == "feasible"


def test_a_time_limit_without_a_solution_gives_status_time_limit(fakes: object) -> None:
    backend = fakes.scripted([MipStatus.TIME_LIMIT], bound=9.0)  # type: ignore[attr-defined]
    result = solve(SMALL, max_cycle=2, max_chain=1, time_limit=5.0, backend=backend)
    assert result.status is Status.TIME_LIMIT
    assert result.exchanges == ()
    assert math.isnan(result.objective[0])
    assert [u.patient for u in result.unmatched] == ["a", "b", "c", "d"]
    assert result.ndds_to_waiting_list == ("n",)
    assert result.to_dict()["objective"] == [None]
    (call,) = backend.calls
    assert call.time_limit is not None
    assert 0 < call.time_limit <= 5.0


def test_a_time_limit_without_a_solution_keeps_the_bound(fakes: object) -> None:
    backend = fakes.scripted([MipStatus.TIME_LIMIT], bound=9.0)  # type: ignore[attr-defined]
    result = solve(SMALL, max_cycle=2, max_chain=1, time_limit=5.0, backend=backend)
    assert result.bound == (9.0,)


def test_a_feasible_level_of_a_hierarchy_stops_the_hierarchy(fakes: object) -> None:
    backend = fakes.scripted([MipStatus.OPTIMAL, MipStatus.FEASIBLE])  # type: ignore[attr-defined]
    result = solve(SMALL, max_cycle=3, max_chain=2, objective="uk", backend=backend)
    expected = best_packing(SMALL, max_cycle=3, max_chain=2, objective="uk")
    assert result.status is Status.FEASIBLE
    assert len(backend.calls) == 2
    assert result.objective[0] == expected[0]
    assert result.objective[1] == expected[1]  # the fake's "feasible" x is in fact optimal
    assert result.bound[1] == expected[1] + 1.25
    assert_valid(SMALL, result, max_cycle=3, max_chain=2)
    _assert_unsettled_levels_are_honest(result, expected, first=2)


def _assert_unsettled_levels_are_honest(
    result: MatchingResult, expected: tuple[float, ...], *, first: int
) -> None:
    """Levels a stopped run never settled report the found exchanges' worth, and a valid bound."""
    values = result_values(SMALL, result, max_cycle=3, objective="uk")
    for i in range(first, len(result.levels)):
        level = result.levels[i]
        assert level.value == pytest.approx(values[i])
        if level.sense == "max":
            assert level.bound >= expected[i] - 1e-9
        else:
            assert level.bound <= values[i] + 1e-9
        assert not math.isnan(level.gap)
    for u in result.unmatched:
        assert u.reason is not UnmatchedReason.OUTCOMPETED  # nothing was shown to beat them


def test_a_time_limit_after_the_first_level_keeps_its_solution(fakes: object) -> None:
    backend = fakes.scripted([MipStatus.OPTIMAL, MipStatus.TIME_LIMIT])  # type: ignore[attr-defined]
    result = solve(SMALL, max_cycle=3, max_chain=2, objective="uk", backend=backend)
    expected = best_packing(SMALL, max_cycle=3, max_chain=2, objective="uk")
    assert result.status is Status.FEASIBLE
    assert result.objective[0] == expected[0]
    assert result.exchanges, "the first level's solution is kept"
    assert_valid(SMALL, result, max_cycle=3, max_chain=2)
    values = result_values(SMALL, result, max_cycle=3, objective="uk")
    assert values[0] == expected[0]
    # The level that ran out of time, and those never reached, report what the kept
    # solution is worth there, with a bound.
    assert result.objective[1] == values[1]
    _assert_unsettled_levels_are_honest(result, expected, first=1)


def test_an_infeasible_answer_gives_status_infeasible(fakes: object) -> None:
    backend = fakes.scripted([MipStatus.INFEASIBLE])  # type: ignore[attr-defined]
    result = solve(SMALL, backend=backend)
    assert result.status is Status.INFEASIBLE
    assert result.exchanges == ()
    assert len(result.unmatched) == 4


def test_a_backend_error_raises_solver_error(fakes: object) -> None:
    backend = fakes.scripted([MipStatus.ERROR])  # type: ignore[attr-defined]
    with pytest.raises(SolverError):
        solve(SMALL, backend=backend)


def test_the_backend_is_not_called_when_there_is_nothing_to_choose(fakes: object) -> None:
    backend = fakes.scripted([MipStatus.ERROR])  # type: ignore[attr-defined]
    pool = pool_of({"n": None, "d": "p"}, [("d", "q", 1.0)], lone=["q"])
    result = solve(pool, objective="uk", backend=backend)
    assert backend.calls == []
    assert result.status is Status.OPTIMAL
    assert result.objective == (0.0, 1.0, 0.0, 0.0, 0.0)


def test_highs_backends_with_different_thread_counts_can_share_a_process() -> None:
    pool = random_pool(8, n_pairs=12, n_ndds=2, density=0.3)
    results = [solve(pool, backend=HighsBackend(threads=k)) for k in (2, 3)]
    assert [r.status for r in results] == [Status.OPTIMAL, Status.OPTIMAL]
    assert results[0].objective == results[1].objective
    # Solves from other threads, and then this one again, still work (HiGHS keeps per-thread
    # state; restarting its scheduler from one thread used to break the others).
    found: list[Status] = []
    worker = threading.Thread(target=lambda: found.append(solve(pool).status))
    worker.start()
    worker.join()
    found.append(solve(pool).status)
    assert found == [Status.OPTIMAL, Status.OPTIMAL]


def test_score_values_are_reported_without_float_noise() -> None:
    # 0.1 + 0.2 is 0.30000000000000004 in binary floating point.
    pool = pool_of({"d1": "p1", "d2": "p2"}, [("d1", "p2", 0.1), ("d2", "p1", 0.2)])
    result = solve(pool, objective="score")
    assert result.status is Status.OPTIMAL
    assert result.objective == (0.3,)
    assert result.levels[0].bound == 0.3


# --- (5) chains longer than SEED_MAX_CHAIN start from the optimum with shorter chains ------

# One NDD and five pairs in a line: chains of 3 give 3 transplants, chains of 5 give 5.
LINE = pool_of(
    {"n": None, "d1": "p1", "d2": "p2", "d3": "p3", "d4": "p4", "d5": "p5"},
    [("n", "p1", 1.0), ("d1", "p2", 1.0), ("d2", "p3", 1.0), ("d3", "p4", 1.0), ("d4", "p5", 1.0)],
)


class ExpiresAfterSeeding(ExpiringHighs):
    """HiGHS until the seeding pass is over; after it, every MIP runs out of time with nothing."""


def test_a_longer_chain_cap_keeps_the_shorter_optimum_when_time_runs_out() -> None:
    backend = ExpiresAfterSeeding()
    result = solve(
        LINE, max_cycle=3, max_chain=5, time_limit=60.0, backend=backend, progress=backend.watch
    )
    assert backend.expired_calls > 0  # the longer level really ran out of time
    assert result.status is Status.FEASIBLE
    assert result.objective == (3.0,)
    assert result.bound == (5.0,)
    assert_valid(LINE, result, max_cycle=3, max_chain=5)
    assert "seed" in result.timings


# LINE with a two-way exchange beside it: a model with a cycle to keep.
LINE_AND_SWAP = pool_of(
    {"n": None, "d1": "p1", "d2": "p2", "d3": "p3", "d4": "p4", "d5": "p5", "d6": "p6", "d7": "p7"},
    [
        ("n", "p1", 1.0),
        ("d1", "p2", 1.0),
        ("d2", "p3", 1.0),
        ("d3", "p4", 1.0),
        ("d4", "p5", 1.0),
        ("d6", "p7", 1.0),
        ("d7", "p6", 1.0),
    ],
)


@pytest.mark.parametrize(("pool", "whole"), [(LINE, True), (LINE_AND_SWAP, False)])
def test_the_rounds_keep_the_whole_time_when_there_is_no_cycle_to_search_around(
    pool: Pool, whole: bool, level_calls: list[dict[str, object]]
) -> None:
    # A model without cycles gives the rounds the whole time (see solve's comment there).
    result = solve(pool, max_cycle=3, max_chain=5, time_limit=60.0)
    assert result.status is Status.OPTIMAL
    seeding, first = (call["time_limit"] for call in level_calls)
    assert isinstance(seeding, float)
    assert isinstance(first, float)
    # All of the 60 s left after seeding, or half of it (no assertion on elapsed time: the
    # seeding pass would have to take 15 s for the first to fail).
    assert first > 45.0 if whole else first <= 30.0
    # With half, a round one short of its target may run on into the other half.
    seeding_run_on, first_run_on = (call["run_on_limit"] for call in level_calls)
    assert seeding_run_on is None
    if whole:
        assert first_run_on is None
    else:
        assert isinstance(first_run_on, float)
        assert first_run_on > 45.0


def test_a_seeded_solve_with_long_chains_is_still_optimal(
    caplog: pytest.LogCaptureFixture,
) -> None:
    messages: list[str] = []
    with caplog.at_level(logging.DEBUG, logger="possible.optimise.solve"):
        result = solve(LINE, max_cycle=3, max_chain=5, progress=messages.append)
    assert result.status is Status.OPTIMAL
    assert result.objective == (5.0,)
    assert any("seeding" in m for m in messages)
    # The seed was found, fitted the longer model and was used.
    assert any(r.getMessage().startswith("seeded with 3.0") for r in caplog.records)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    # Chains within the seeding cap need no seeding pass.
    short = solve(LINE, max_cycle=3, max_chain=3)
    assert short.objective == (3.0,)
    assert "seed" not in short.timings


def test_the_uk_hierarchy_never_needs_chains_longer_than_two() -> None:
    # A chain of three or more is no effective two-way exchange, and cut after its second
    # transplant it becomes one: so the UK hierarchy with chains of 5 is solved as with
    # chains of 2 (no seeding pass), with the same values.
    long = solve(LINE, max_cycle=3, max_chain=5, objective="uk")
    short = solve(LINE, max_cycle=3, max_chain=2, objective="uk")
    assert long.status is Status.OPTIMAL
    assert long.objective == short.objective
    assert long.objective == best_packing(LINE, max_cycle=3, max_chain=5, objective="uk")
    assert "seed" not in long.timings
    assert long.policy["max_chain"] == 5
    assert [len(e.transplants) for e in long.exchanges] == [2]
    assert_valid(LINE, long, max_cycle=3, max_chain=5)
    # p3 to p5 are reachable by chains of 5: they lost to better exchanges, while chains of 2
    # leave them none at all.
    reasons = {u.patient: u.reason for u in long.unmatched}
    assert reasons == dict.fromkeys(("p3", "p4", "p5"), UnmatchedReason.OUTCOMPETED)
    short_reasons = {u.patient: u.reason for u in short.unmatched}
    assert short_reasons == dict.fromkeys(
        ("p3", "p4", "p5"), UnmatchedReason.NO_EXCHANGE_WITHIN_CAPS
    )


def _gadgets(count: int) -> Pool:
    """An NDD giving to one pair, and `count` gadgets: pair a_i swaps with b_i or with c_i,
    one swap scoring 5 per transplant and the other 1 (c_i's for even i, b_i's for odd i).
    Every choice gives the same transplants; only the score tells them apart."""
    donors: dict[str, str | None] = {"n": None, "dq": "q"}
    arcs = [("n", "q", 1.0)]
    for i in range(count):
        for k in "abc":
            donors[f"d{k}{i}"] = f"{k}{i}"
        b, c = (1.0, 5.0) if i % 2 == 0 else (5.0, 1.0)
        arcs += [(f"da{i}", f"b{i}", b), (f"db{i}", f"a{i}", b)]
        arcs += [(f"da{i}", f"c{i}", c), (f"dc{i}", f"a{i}", c)]
    return pool_of(donors, arcs)


def test_a_longer_chain_cap_keeps_every_level_of_the_seed() -> None:
    from possible.optimise.objectives import TotalScore, Transplants

    pool = _gadgets(6)
    # Every MIP of the longer model runs out of time: what stands is the seed's answer at
    # both levels (the shorter caps' lexicographic optimum), not any solution worth the first.
    backend = ExpiringHighs(expire_on="solving level")
    result = solve(
        pool,
        max_cycle=3,
        max_chain=5,
        objective=[Transplants, TotalScore],
        time_limit=60.0,
        backend=backend,
        progress=backend.watch,
    )
    assert result.objective == (13.0, 61.0)
    assert result.status is Status.OPTIMAL  # the seed meets both levels' bounds
    assert_valid(pool, result, max_cycle=3, max_chain=5)


@pytest.mark.parametrize("objective", ["transplants", "score", "uk"])
@SETTINGS
@given(pool=pools(max_pairs=7, max_ndds=2), caps=st.sampled_from([(3, 4), (2, 5)]))
def test_long_chains_reach_the_brute_force_optimum(
    objective: str, pool: Pool, caps: tuple[int, int]
) -> None:
    max_cycle, max_chain = caps
    result = solve(pool, max_cycle=max_cycle, max_chain=max_chain, objective=objective)
    expected = best_packing(pool, max_cycle=max_cycle, max_chain=max_chain, objective=objective)
    assert result.status is Status.OPTIMAL
    assert approx_equal(result.objective, expected)
    assert_valid(pool, result, max_cycle=max_cycle, max_chain=max_chain)


class RelaxationFailsAfterSeeding(ExpiresAfterSeeding):
    """After the seeding pass the relaxation fails too (as PDLP stopped by a time limit), so
    the longer level is a MIP over every column, which runs out of time."""

    def solve_relaxation(self, problem: MipProblem, *, time_limit: float | None = None) -> object:
        if self.expired:
            return LpSolution(MipStatus.ERROR, math.nan, np.zeros(problem.n_rows), 0.0)
        return self.inner.solve_relaxation(problem, time_limit=time_limit)


class SlowSeed(ExpiresAfterSeeding):
    """The seeding pass's MIPs take longer than the whole time limit."""

    seeding_delay = 0.3


@pytest.mark.parametrize("backend_class", [RelaxationFailsAfterSeeding, SlowSeed])
def test_the_seed_stands_when_the_longer_solve_gets_nothing(
    backend_class: type[ExpiresAfterSeeding],
) -> None:
    backend = backend_class()
    time_limit = 0.25 if backend_class is SlowSeed else 60.0
    result = solve(
        LINE,
        max_cycle=3,
        max_chain=5,
        time_limit=time_limit,
        backend=backend,
        progress=backend.watch,
    )
    assert result.status is Status.FEASIBLE
    assert result.objective == (3.0,)
    assert result.transplants == 3
    assert_valid(LINE, result, max_cycle=3, max_chain=5)


@pytest.mark.parametrize("objective", ["transplants", "score"])
@SETTINGS
@given(pool=pools(max_pairs=7, max_ndds=2))
def test_the_capacity_bound_of_a_stopped_run_is_never_below_the_optimum(
    objective: str, pool: Pool
) -> None:
    from possible.graph import build_graph
    from possible.optimise.formulation import build_formulation
    from possible.optimise.objectives import hierarchy
    from possible.optimise.solve import _capacity_bound, _capacity_rows

    for max_cycle, max_chain in CAPS:
        form = build_formulation(
            build_graph(pool), max_cycle=max_cycle, max_chain=max_chain, uk=False
        )
        (level,) = hierarchy(objective)
        bound = _capacity_bound(_capacity_rows(form.problem), level.values(form.features))
        (best,) = best_packing(pool, max_cycle=max_cycle, max_chain=max_chain, objective=objective)
        assert bound >= best - 1e-9


def test_a_patient_who_is_not_active_is_unmatched_for_that_reason() -> None:
    import datetime as dt

    from possible.domain import Donor, Patient, PatientStatus

    day = dt.date(2026, 1, 1)  # a pool with clinical records needs consent on record
    pool = Pool.build(
        [Patient("a"), Patient("b"), Patient("c", status=PatientStatus.SUSPENDED)],
        [
            Donor("da", "a", consent=day),
            Donor("db", "b", consent=day),
            Donor("dc", "c", consent=day),
        ],
        [("da", "b", 1.0), ("db", "a", 1.0), ("da", "c", 1.0), ("dc", "a", 1.0)],
    )
    result = solve(pool, max_cycle=2, max_chain=0)
    assert result.transplants == 2
    assert [(u.patient, u.reason) for u in result.unmatched] == [("c", UnmatchedReason.NOT_ACTIVE)]


def test_a_time_limit_that_passes_while_the_model_is_built_stops_there() -> None:
    pool = random_pool(4, n_pairs=30, n_ndds=2, density=0.3)
    result = solve(pool, max_cycle=4, max_chain=3, time_limit=1e-9)
    assert result.status is Status.TIME_LIMIT
    assert result.exchanges == ()
    assert math.isnan(result.objective[0])
    assert "solve" not in result.timings
    reasons = {u.reason for u in result.unmatched}
    assert UnmatchedReason.OUTCOMPETED not in reasons
    assert UnmatchedReason.NOT_SETTLED in reasons
    assert len(result.unmatched) == len(pool.patients)


def test_a_donor_who_may_not_give_gives_nothing_not_even_to_the_waiting_list() -> None:
    import datetime as dt

    from possible.domain import Donor, DonorStatus, Patient

    day = dt.date(2026, 1, 1)
    withdrawn = DonorStatus.WITHDRAWN
    pool = Pool.build(
        [Patient("p1"), Patient("p2")],
        [
            Donor("d1", "p1", consent=day),
            Donor("d2", "p2", consent=day, status=withdrawn),
            Donor("n1", consent=day),
            Donor("n2", consent=day, status=withdrawn),
        ],
        [("n1", "p2", 1.0), ("n1", "p1", 1.0), ("n2", "p1", 1.0), ("d1", "p2", 1.0)],
    )
    result = solve(pool, max_cycle=3, max_chain=2, objective="uk")
    # Only n1 -> p1, then d1 -> waiting list: p2's donor has withdrawn, so p2 cannot end a
    # chain (d2 would have to give to the waiting list), and n2 gives to no one.
    (chain,) = result.exchanges
    assert [(t.donor, t.patient) for t in chain.transplants] == [("n1", "p1")]
    assert chain.to_waiting_list == "d1"
    assert result.ndds_to_waiting_list == ()
    assert result.objective[1] == 2  # one transplant and one waiting-list gift, not n2's
    reasons = {u.patient: u.reason for u in result.unmatched}
    assert reasons == {"p2": UnmatchedReason.NO_PAIRED_DONOR}


def test_a_score_level_with_whole_scores_is_solved_as_an_integral_one(
    level_calls: list[dict[str, object]],
) -> None:
    from possible.optimise.objectives import TotalScore, Transplants

    two_way = {"d0": "p0", "d1": "p1"}
    whole = pool_of(two_way, [("d0", "p1", 1.0), ("d1", "p0", 2.0)])
    halves = pool_of(two_way, [("d0", "p1", 1.0), ("d1", "p0", 2.5)])
    assert solve(whole, objective=[TotalScore]).objective == (3.0,)
    assert solve(halves, objective=[TotalScore, Transplants]).objective == (3.5, 2.0)
    assert [call["integral"] for call in level_calls] == [True, False, True]
