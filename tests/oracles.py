"""Slow, obvious oracles for the matching engine's tests, and the pools they run on.

Nothing here uses the engine beyond the domain model: the oracles recompute, from a pool's
records alone, every exchange the policy allows and the best way to pack them, so the engine's
arrays, pruning and MIP are checked against plain Python.

Vocabulary as in the design notes: a *pair* is a patient with one or more paired donors; an
*NDD* is a non-directed donor; a cycle's length and a chain's length are both the number of
transplants inside the pool.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from scipy.sparse import csc_matrix

from possible.domain import Donor, Patient, Pool
from possible.optimise import (
    Exchange,
    MatchingResult,
    MipProblem,
    MipSolution,
    MipStatus,
    Status,
    UnmatchedReason,
)

SETTINGS = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
"""Hypothesis settings for the engine's properties: reproducible, never timed."""

SCORES = (1.0, 2.0, 3.0, 4.5, 10.0)
"""Arc scores the random pools draw from (sums of them are exact in binary floating point)."""

UK_LEVELS = (
    "uk.effective_two_way",
    "uk.transplants",
    "uk.three_way",
    "uk.back_arcs",
    "uk.score",
)


# --- building pools ------------------------------------------------------------------------


def pool_of(
    donors: Mapping[str, str | None],
    arcs: Iterable[tuple[str, str, float]],
    *,
    lone: Iterable[str] = (),
    ages: Mapping[str, float] | None = None,
) -> Pool:
    """Build a pool from ``{donor_id: patient_id or None}`` and ``(donor, patient, score)`` arcs.

    Patients are the ones named by the donors, plus `lone` patients without a paired donor.
    """
    patient_ids = {p for p in donors.values() if p is not None} | set(lone)
    ages = ages or {}
    return Pool.build(
        [Patient(p) for p in sorted(patient_ids)],
        [Donor(d, patient=p, age=ages.get(d)) for d, p in donors.items()],
        arcs,
    )


def random_pool(
    seed: int,
    *,
    n_pairs: int,
    n_ndds: int,
    density: float,
    multi_share: float = 0.25,
    n_lone: int = 0,
) -> Pool:
    """A seeded random pool: some pairs with two donors, random scores and ages."""
    rng = random.Random(seed)
    donors: dict[str, str | None] = {}
    for i in range(n_pairs):
        for k in range(2 if rng.random() < multi_share else 1):
            donors[f"D{i:02d}{'ab'[k]}"] = f"P{i:02d}"
    for i in range(n_ndds):
        donors[f"N{i:02d}"] = None
    lone = [f"L{i:02d}" for i in range(n_lone)]
    patients = sorted({p for p in donors.values() if p is not None} | set(lone))
    arcs = [
        (d, p, rng.choice(SCORES))
        for d, own in donors.items()
        for p in patients
        if p != own and rng.random() < density
    ]
    ages = {d: float(rng.randint(18, 70)) for d in donors if rng.random() < 0.9}
    return pool_of(donors, arcs, lone=lone, ages=ages)


@st.composite
def pools(
    draw: st.DrawFn,
    *,
    max_pairs: int = 6,
    max_ndds: int = 2,
    max_lone: int = 1,
    max_donors: int = 2,
) -> Pool:
    """Small pools: pairs with one or more donors, NDDs, lone patients, any arcs."""
    n_pairs = draw(st.integers(0, max_pairs))
    n_ndds = draw(st.integers(0, max_ndds))
    n_lone = draw(st.integers(0, max_lone))
    donors: dict[str, str | None] = {}
    for i in range(n_pairs):
        for k in range(draw(st.integers(1, max_donors))):
            donors[f"d{i}{'abc'[k]}"] = f"p{i}"
    for i in range(n_ndds):
        donors[f"n{i}"] = None
    # Lone patients sort before the others, so patient and vertex numbers differ.
    lone = [f"l{i}" for i in range(n_lone)]
    patients = [f"p{i}" for i in range(n_pairs)] + lone
    candidates = [(d, p) for d, own in donors.items() for p in patients if p != own]
    present = draw(st.lists(st.booleans(), min_size=len(candidates), max_size=len(candidates)))
    arcs = [
        (d, p, draw(st.sampled_from(SCORES)))
        for (d, p), keep in zip(candidates, present, strict=True)
        if keep
    ]
    age = st.one_of(st.none(), st.integers(18, 70).map(float))
    ages = {d: a for d in donors if (a := draw(age)) is not None}
    return pool_of(donors, arcs, lone=lone, ages=ages)


# --- graphs as CSR ------------------------------------------------------------------------


def csr(
    n_vertices: int, edges: Iterable[tuple[int, int]]
) -> tuple[NDArray[np.int64], NDArray[np.int32]]:
    """CSR ``(indptr, target)`` of a directed graph, rows in the order the edges come."""
    rows: list[list[int]] = [[] for _ in range(n_vertices)]
    for u, v in edges:
        rows[u].append(v)
    indptr = np.zeros(n_vertices + 1, dtype=np.int64)
    np.cumsum([len(r) for r in rows], out=indptr[1:])
    target = np.array([v for r in rows for v in r], dtype=np.int32).reshape(-1)
    return indptr, target


@st.composite
def digraphs(
    draw: st.DrawFn, *, max_vertices: int = 8, shuffle_rows: bool = True
) -> tuple[int, list[tuple[int, int]]]:
    """Simple directed graphs (no loops, no parallel arcs) as ``(n, edges)``."""
    n = draw(st.integers(0, max_vertices))
    pairs = [(u, v) for u in range(n) for v in range(n) if u != v]
    present = draw(st.lists(st.booleans(), min_size=len(pairs), max_size=len(pairs)))
    edges = [e for e, keep in zip(pairs, present, strict=True) if keep]
    if shuffle_rows:
        edges = draw(st.permutations(edges))
    return n, edges


# --- the exchanges a policy allows -------------------------------------------------------


def age_bonus(giver: float | None, next_donor: float | None) -> float:
    """UK age bonus: 3 within 20 years, plus ``(70 - difference)**2 * 1e-5`` (5 decimals)."""
    if giver is None or next_donor is None:
        return 0.0
    diff = abs(giver - next_donor)
    return (3.0 if diff <= 20 else 0.0) + round(1e-5 * (70 - diff) ** 2, 5)


class PoolView:
    """A pool as dictionaries keyed by ids: slow to build, obvious to read."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.score = {
            (pool.donors[d].id, pool.patients[p].id): s
            for d, p, s in zip(
                pool.arcs.donor.tolist(),
                pool.arcs.patient.tolist(),
                pool.arcs.score.tolist(),
                strict=True,
            )
        }
        self.donors_of: dict[str, list[str]] = {}
        for d in pool.donors:
            if d.patient is not None:
                self.donors_of.setdefault(d.patient, []).append(d.id)
        self.pairs = sorted(self.donors_of)
        self.ndds = [d.id for d in pool.donors if d.non_directed]
        self.age = {d.id: d.age for d in pool.donors}
        self.paired_with = {d.id: d.patient for d in pool.donors}

    def pair_arc(self, giver: str, receiver: str) -> bool:
        """Whether some donor of pair (or NDD) `giver` can give to pair `receiver`'s patient."""
        donors = self.donors_of.get(giver, [giver])
        return any((d, receiver) in self.score for d in donors)

    def successors(self, giver: str) -> list[str]:
        """Pairs that `giver` (a pair's patient id or an NDD's id) can give to."""
        return [q for q in self.pairs if q != giver and self.pair_arc(giver, q)]


@dataclass(frozen=True, slots=True)
class Option:
    """One exchange the policy allows, with one choice of the donors who give.

    Attributes
    ----------
    kind
        ``"cycle"`` or ``"chain"``.
    transplants
        ``(donor, patient, score)`` in order; a chain starts with its NDD's transplant.
    to_waiting_list
        For a chain, the donor of its last pair who gives to the waiting list.
    """

    kind: str
    transplants: tuple[tuple[str, str, float], ...]
    to_waiting_list: str | None = None

    @property
    def members(self) -> frozenset[str]:
        """Patient ids of its pairs, and the id of its NDD."""
        out = {p for _, p, _ in self.transplants}
        if self.kind == "chain":
            out.add(self.transplants[0][0])
        return frozenset(out)


def _donor_choices(view: PoolView, path: Sequence[str], closed: bool) -> Iterator[list[str]]:
    """Every choice of giving donor for each step of a path of pairs (and the NDD first)."""
    steps = len(path) if closed else len(path) - 1
    options = []
    for i in range(steps):
        giver, receiver = path[i], path[(i + 1) % len(path)]
        donors = view.donors_of.get(giver, [giver])
        options.append([d for d in donors if (d, receiver) in view.score])
    for choice in itertools.product(*options):
        yield list(choice)


def cycles_of(view: PoolView, max_cycle: int) -> list[list[str]]:
    """Pair-level cycles of 2 to `max_cycle` pairs, each once, from its smallest patient id."""
    out: list[list[str]] = []

    def grow(path: list[str]) -> None:
        for q in view.successors(path[-1]):
            if q == path[0] and len(path) >= 2:
                out.append(list(path))
            elif q > path[0] and q not in path and len(path) < max_cycle:
                grow([*path, q])

    if max_cycle >= 2:
        for start in view.pairs:
            grow([start])
    return out


def chains_of(view: PoolView, max_chain: int) -> list[list[str]]:
    """Pair-level chains ``[ndd, pair, ...]`` of 1 to `max_chain` transplants."""
    out: list[list[str]] = []

    def grow(path: list[str]) -> None:
        if len(path) > 1:
            out.append(list(path))
        if len(path) <= max_chain:
            for q in view.successors(path[-1]):
                if q not in path:
                    grow([*path, q])

    if max_chain >= 1:
        for n in view.ndds:
            grow([n])
    return out


def options(view: PoolView, *, max_cycle: int, max_chain: int) -> list[Option]:
    """Every exchange within the caps, once per choice of giving donors (and chain end)."""
    out: list[Option] = []
    for path in cycles_of(view, max_cycle):
        for givers in _donor_choices(view, path, closed=True):
            receivers = path[1:] + path[:1]
            out.append(
                Option(
                    "cycle",
                    tuple((d, p, view.score[d, p]) for d, p in zip(givers, receivers, strict=True)),
                )
            )
    for path in chains_of(view, max_chain):
        for givers in _donor_choices(view, path, closed=False):
            transplants = tuple(
                (d, p, view.score[d, p]) for d, p in zip(givers, path[1:], strict=True)
            )
            for end in view.donors_of[path[-1]]:
                out.append(Option("chain", transplants, end))
    return out


def option_values(view: PoolView, option: Option, *, max_cycle: int) -> dict[str, float]:
    """Every objective's value of one exchange (the UK levels as objectives.py defines them).

    * ``uk.effective_two_way``: a two-way cycle, a three-way cycle with a back-arc, or a
      chain of one or two transplants (kep_solver counts the NDD as a member, so such a
      chain has two or three members).
    * ``uk.three_way``: a three-way cycle, or a chain of two transplants (three members).
    * ``uk.back_arcs``: for a three-way cycle, the reverse arcs of its three steps; for a
      chain NDD -> v -> w, one for NDD -> v (that chain of one is always embedded), one if
      the NDD could give to w directly, and one if w's pair could give back to v (the
      two-way cycle v <-> w, when two-way cycles are allowed).
    * ``uk.score``: every transplant scores its arc plus the age bonus between its donor and
      the donor of the receiving pair who gives next (in a chain, the last pair's donor who
      gives to the waiting list).

    ``uk.transplants`` is ``transplants`` here; the NDD count is added once per pool.
    """
    k = len(option.transplants)
    givers = [d for d, _, _ in option.transplants]
    receivers = [p for _, p, _ in option.transplants]
    if option.kind == "cycle":
        nexts = givers[1:] + givers[:1]
        pairs = receivers[-1:] + receivers[:-1]  # pairs in giving order
        back = 0.0
        if k == 3:
            back = float(sum(view.pair_arc(pairs[(i + 1) % 3], pairs[i]) for i in range(3)))
        effective = k == 2 or (k == 3 and back >= 1)
        three = k == 3
    else:
        assert option.to_waiting_list is not None
        nexts = [*givers[1:], option.to_waiting_list]
        back = 0.0
        if k == 2:
            ndd, v, w = givers[0], receivers[0], receivers[1]
            back = 1.0 + view.pair_arc(ndd, w) + (max_cycle >= 2 and view.pair_arc(w, v))
        effective = k <= 2
        three = k == 2
    score = sum(s for _, _, s in option.transplants)
    uk = sum(
        s + age_bonus(view.age[d], view.age[nxt])
        for (d, _, s), nxt in zip(option.transplants, nexts, strict=True)
    )
    return {
        "transplants": float(k),
        "score": score,
        "uk.effective_two_way": float(effective),
        "uk.transplants": float(k),
        "uk.three_way": float(three),
        "uk.back_arcs": back,
        "uk.score": uk,
    }


def levels_of(objective: str) -> tuple[str, ...]:
    """Names of the levels of a named objective, or of ``"a,b,..."`` (a hierarchy of them)."""
    return UK_LEVELS if objective == "uk" else tuple(objective.split(","))


def _signs(objective: str) -> tuple[float, ...]:
    return tuple(-1.0 if name == "uk.three_way" else 1.0 for name in levels_of(objective))


def best_packing(
    pool: Pool, *, max_cycle: int, max_chain: int, objective: str
) -> tuple[float, ...]:
    """Optimum of each level of `objective`, over every packing of disjoint exchanges.

    Levels are compared lexicographically (a minimised level by its negation). Solved by
    dynamic programming over the set of pairs and NDDs already decided: the smallest
    undecided one is either left out or covered by an exchange it is the smallest member of.
    """
    view = PoolView(pool)
    names = levels_of(objective)
    signs = _signs(objective)
    universe = sorted(view.pairs + view.ndds)
    bit = {m: 1 << i for i, m in enumerate(universe)}
    best_of_mask: dict[int, tuple[float, ...]] = {}
    for option in options(view, max_cycle=max_cycle, max_chain=max_chain):
        values = option_values(view, option, max_cycle=max_cycle)
        key = tuple(s * values[n] for s, n in zip(signs, names, strict=True))
        mask = sum(bit[m] for m in option.members)
        if mask not in best_of_mask or key > best_of_mask[mask]:
            best_of_mask[mask] = key
    by_lowest: dict[int, list[tuple[int, tuple[float, ...]]]] = {}
    for mask, key in best_of_mask.items():
        low = (mask & -mask).bit_length() - 1
        by_lowest.setdefault(low, []).append((mask, key))
    full = (1 << len(universe)) - 1
    zero = tuple(0.0 for _ in names)

    @cache
    def best(decided: int) -> tuple[float, ...]:
        if decided == full:
            return zero
        low = (~decided & (decided + 1)).bit_length() - 1
        result = best(decided | 1 << low)
        for mask, key in by_lowest.get(low, []):
            if not mask & decided:
                rest = best(decided | mask)
                candidate = tuple(a + b for a, b in zip(key, rest, strict=True))
                result = max(result, candidate)
        return result

    optimum = best(0)
    constant = tuple(float(len(view.ndds)) if n == "uk.transplants" else 0.0 for n in names)
    return tuple(s * v + c for s, v, c in zip(signs, optimum, constant, strict=True))


def receivable(pool: Pool, *, max_cycle: int, max_chain: int) -> set[str]:
    """Patients who receive in at least one exchange within the caps."""
    view = PoolView(pool)
    found = options(view, max_cycle=max_cycle, max_chain=max_chain)
    return {p for option in found for _, p, _ in option.transplants}


# --- checking a result ---------------------------------------------------------------------


def as_option(exchange: Exchange) -> Option:
    """The oracle's view of one of the engine's exchanges."""
    return Option(
        exchange.kind,
        tuple((t.donor, t.patient, t.score) for t in exchange.transplants),
        exchange.to_waiting_list,
    )


def result_values(
    pool: Pool, result: MatchingResult, *, max_cycle: int, objective: str
) -> tuple[float, ...]:
    """Each level's value recomputed from the result's own exchanges."""
    view = PoolView(pool)
    names = levels_of(objective)
    total = dict.fromkeys(names, 0.0)
    for exchange in result.exchanges:
        values = option_values(view, as_option(exchange), max_cycle=max_cycle)
        for n in names:
            total[n] += values[n]
    if "uk.transplants" in total:
        total["uk.transplants"] += len(view.ndds)
    return tuple(total[n] for n in names)


def assert_valid(pool: Pool, result: MatchingResult, *, max_cycle: int, max_chain: int) -> None:
    """Assert everything a result must satisfy whatever the objective.

    No donor gives twice, no patient receives twice, a pair gives at most once (counting the
    donor a chain ends with), caps hold, every transplant is an arc of the pool with its score,
    chains start at NDDs and end with a donor of their last pair, the NDDs left over and the
    unmatched patients are exactly the right ones, each with the right reason.
    """
    view = PoolView(pool)
    givers: list[str] = []
    receivers: list[str] = []
    for e in result.exchanges:
        ts = e.transplants
        assert e.length == len(ts) >= 1
        for t in ts:
            assert (t.donor, t.patient) in view.score, f"{t} is no arc of the pool"
            assert t.score == view.score[t.donor, t.patient]
            assert t.patient in view.donors_of, f"{t.patient} has no paired donor"
        # Each donor after the first is paired with the patient who received just before.
        for before, after in itertools.pairwise(ts):
            assert view.paired_with[after.donor] == before.patient
        if e.kind == "cycle":
            assert 2 <= len(ts) <= max_cycle
            assert e.to_waiting_list is None
            assert view.paired_with[ts[0].donor] == ts[-1].patient
        else:
            assert e.kind == "chain"
            assert 1 <= len(ts) <= max_chain
            assert ts[0].donor in view.ndds
            assert e.to_waiting_list is not None
            assert view.paired_with[e.to_waiting_list] == ts[-1].patient
            givers.append(e.to_waiting_list)
        givers.extend(t.donor for t in ts)
        receivers.extend(t.patient for t in ts)
    assert len(set(givers)) == len(givers), "a donor gives twice"
    assert len(set(receivers)) == len(receivers), "a patient receives twice"
    giving_units = [view.paired_with[d] or d for d in givers]
    assert len(set(giving_units)) == len(giving_units), "a pair gives twice"
    assert result.transplants == len(receivers)

    starting = {e.transplants[0].donor for e in result.exchanges if e.kind == "chain"}
    assert list(result.ndds_to_waiting_list) == [n for n in view.ndds if n not in starting]

    received = set(receivers)
    expected_unmatched = [p.id for p in pool.patients if p.id not in received]
    assert [u.patient for u in result.unmatched] == expected_unmatched
    reachable = receivable(pool, max_cycle=max_cycle, max_chain=max_chain)
    has_arc = {p for _, p in view.score}
    for u in result.unmatched:
        if u.patient not in view.donors_of:
            expected = UnmatchedReason.NO_PAIRED_DONOR
        elif u.patient not in has_arc:
            expected = UnmatchedReason.NO_COMPATIBLE_DONOR
        elif u.patient not in reachable:
            expected = UnmatchedReason.NO_EXCHANGE_WITHIN_CAPS
        elif result.status is Status.OPTIMAL:
            expected = UnmatchedReason.OUTCOMPETED
        else:  # a stopped run did not show that better exchanges beat theirs
            expected = UnmatchedReason.NOT_SETTLED
        assert u.reason is expected, f"{u.patient}: {u.reason} instead of {expected}"


def approx_equal(a: Sequence[float], b: Sequence[float], tol: float = 1e-6) -> bool:
    """Element-wise equality of level values up to `tol` (NaN equals NaN)."""
    return len(a) == len(b) and all(
        (math.isnan(x) and math.isnan(y)) or abs(x - y) <= tol * max(1.0, abs(y))
        for x, y in zip(a, b, strict=True)
    )


# --- exhaustive MIP ------------------------------------------------------------------------

MIP_TOLERANCE = 1e-9


def brute_force(problem: MipProblem, *, max_cols: int = 60) -> MipSolution:
    """Maximise `problem` exactly; the first optimum in depth-first order (1 before 0) wins."""
    n, m = problem.n_cols, problem.n_rows
    if n > max_cols:
        raise ValueError(f"{n} columns is too many to brute-force")
    c = problem.objective.tolist()
    lower, upper = problem.row_lower.tolist(), problem.row_upper.tolist()
    columns = [
        list(
            zip(
                problem.a_index[problem.a_start[j] : problem.a_start[j + 1]].tolist(),
                problem.a_value[problem.a_start[j] : problem.a_start[j + 1]].tolist(),
                strict=True,
            )
        )
        for j in range(n)
    ]
    # What the columns from j on can still add to each row, at least and at most.
    least = np.zeros((n + 1, m))
    most = np.zeros((n + 1, m))
    gain = [0.0] * (n + 1)
    for j in reversed(range(n)):
        least[j], most[j], gain[j] = least[j + 1], most[j + 1], gain[j + 1] + max(c[j], 0.0)
        for r, v in columns[j]:
            least[j, r] += min(v, 0.0)
            most[j, r] += max(v, 0.0)
    least_l, most_l = least.tolist(), most.tolist()
    activity = [0.0] * m

    def satisfiable(rows: Sequence[int], j: int) -> bool:
        return all(
            activity[r] + least_l[j][r] <= upper[r] + MIP_TOLERANCE
            and activity[r] + most_l[j][r] >= lower[r] - MIP_TOLERANCE
            for r in rows
        )

    best_value = -math.inf
    best_x: list[int] | None = None
    x = [0] * n

    def search(j: int, value: float) -> None:
        nonlocal best_value, best_x
        if value + gain[j] <= best_value + MIP_TOLERANCE:
            return
        if j == n:
            best_value, best_x = value, list(x)
            return
        rows = [r for r, _ in columns[j]]
        for take in (1, 0):
            if take:
                for r, v in columns[j]:
                    activity[r] += v
            x[j] = take
            if satisfiable(rows, j + 1):
                search(j + 1, value + take * c[j])
            if take:
                for r, v in columns[j]:
                    activity[r] -= v
        x[j] = 0

    if satisfiable(range(m), 0):
        search(0, 0.0)
    if best_x is None:
        return MipSolution(MipStatus.INFEASIBLE, np.zeros(0), math.nan, math.nan, 0.0)
    xs = np.array(best_x, dtype=np.float64)
    value = float(problem.objective @ xs)
    return MipSolution(MipStatus.OPTIMAL, xs, value, value, 0.0)


def packing_problem(seed: int, n_cols: int, n_rows: int, integral: bool) -> MipProblem:
    """A random set packing: each column takes 1 to 3 rows of capacity 1."""
    rng = np.random.default_rng(seed)
    dense = np.zeros((n_rows, n_cols))
    for j in range(n_cols):
        dense[rng.choice(n_rows, size=int(rng.integers(1, 4)), replace=False), j] = 1.0
    matrix = csc_matrix(dense)
    matrix.sort_indices()
    if integral:
        objective = rng.integers(1, 4, size=n_cols).astype(np.float64)
    else:
        objective = rng.uniform(0.5, 3.0, size=n_cols).round(3)
    return MipProblem(
        objective=objective,
        a_start=matrix.indptr.astype(np.int32),
        a_index=matrix.indices.astype(np.int32),
        a_value=matrix.data.astype(np.float64),
        row_lower=np.full(n_rows, -np.inf),
        row_upper=np.ones(n_rows),
    )
