from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from oracles import (
    SETTINGS,
    UK_LEVELS,
    age_bonus,
    approx_equal,
    assert_valid,
    best_packing,
    pool_of,
    pools,
    result_values,
)
from possible.errors import PolicyError
from possible.optimise import OBJECTIVES, Objective, Sense, solve
from possible.optimise import objectives as module
from possible.optimise.objectives import (
    BackArcs,
    EffectiveTwoWay,
    ThreeWay,
    TotalScore,
    Transplants,
    UKScore,
    UKTransplants,
    hierarchy,
)

# Three-way bonus parts used below: two donors 5 years apart earn 3 + (70 - 5)**2 * 1e-5.
NEAR = 3.0 + 0.04225


def cycles(result: object) -> list[list[str]]:
    """Patients of each exchange, in order (a chain starts with its NDD)."""
    out = []
    for e in result.exchanges:  # type: ignore[attr-defined]
        people = [t.patient for t in e.transplants]
        out.append([e.transplants[0].donor, *people] if e.kind == "chain" else people)
    return out


# --- the hierarchy itself --------------------------------------------------------------------


def test_uk_hierarchy_levels_in_order() -> None:
    levels = hierarchy("uk")
    assert [lv.name for lv in levels] == list(UK_LEVELS)
    assert [lv.sense for lv in levels] == [Sense.MAX, Sense.MAX, Sense.MIN, Sense.MAX, Sense.MAX]
    assert levels == OBJECTIVES["uk"]
    assert all(lv.description for lv in levels)


def test_hierarchy_accepts_a_name_an_objective_or_a_sequence() -> None:
    assert hierarchy("transplants") == (Transplants,)
    assert hierarchy("score") == (TotalScore,)
    assert hierarchy(ThreeWay) == (ThreeWay,)
    assert hierarchy([BackArcs, UKScore]) == (BackArcs, UKScore)


@pytest.mark.parametrize("bad", ["UK", "", "most", [], ["uk"]])
def test_hierarchy_refuses_unknown_objectives(bad: object) -> None:
    with pytest.raises(PolicyError):
        hierarchy(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("giver", "next_donor"),
    [(30.0, 30.0), (30.0, 50.0), (30.0, 51.0), (18.0, 70.0), (40.0, 45.0), (70.0, 18.0)],
)
def test_age_bonus(giver: float, next_donor: float) -> None:
    got = module.age_bonus(np.array([giver]), np.array([next_donor]))[0]
    assert got == pytest.approx(age_bonus(giver, next_donor), abs=1e-12)


def test_age_bonus_by_hand() -> None:
    bonus = module.age_bonus(np.array([30.0, 30.0, 30.0, np.nan]), np.array([50.0, 51.0, 35, 1]))
    # 20 years apart: 3 + 50**2 * 1e-5; 21 years: no bonus, 49**2 * 1e-5; unknown age: nothing.
    np.testing.assert_allclose(bonus, [3.025, 0.02401, NEAR, 0.0])


# --- small pools solved by hand ----------------------------------------------------------------


def test_an_effective_two_way_exchange_beats_more_transplants() -> None:
    # a -> b -> c -> a has no back-arc; c <-> d is two-way. Most transplants: the three-way
    # cycle (3). UK: the two-way cycle is effective and the three-way one is not, so c <-> d.
    pool = pool_of(
        {"da": "a", "db": "b", "dc": "c", "dd": "d"},
        [("da", "b", 1), ("db", "c", 1), ("dc", "a", 1), ("dc", "d", 1), ("dd", "c", 1)],
    )
    assert solve(pool, max_cycle=3, objective="transplants").objective == (3.0,)
    uk = solve(pool, max_cycle=3, max_chain=0, objective="uk")
    assert cycles(uk) == [["d", "c"]]
    # effective 1, transplants 2, three-way 0, back-arcs 0, score 1 + 1 (no ages)
    assert uk.objective == (1.0, 2.0, 0.0, 0.0, 2.0)


def test_a_three_way_cycle_with_a_back_arc_is_effective() -> None:
    # a -> b -> c -> a with the back-arc b -> a (so a <-> b is also a two-way cycle). Both are
    # effective; the three-way cycle has more transplants.
    pool = pool_of(
        {"da": "a", "db": "b", "dc": "c"},
        [("da", "b", 1), ("db", "c", 1), ("dc", "a", 1), ("db", "a", 1)],
    )
    uk = solve(pool, max_cycle=3, max_chain=0, objective="uk")
    assert cycles(uk) == [["b", "c", "a"]]
    assert uk.objective == (1.0, 3.0, 1.0, 1.0, 3.0)


def test_more_back_arcs_break_a_tie() -> None:
    # Two three-way cycles through a and b: a -> b -> c -> a (back-arc b -> a) and
    # a -> b -> d -> a (back-arcs b -> a and d -> b). One exchange at most, so effective 1,
    # transplants 3 and three-way 1 tie; back-arcs choose a -> b -> d.
    pool = pool_of(
        {"da": "a", "db": "b", "dc": "c", "dd": "d"},
        [
            ("da", "b", 1),
            ("db", "a", 1),
            ("db", "c", 1),
            ("dc", "a", 1),
            ("db", "d", 1),
            ("dd", "a", 1),
            ("dd", "b", 1),
        ],
    )
    uk = solve(pool, max_cycle=3, max_chain=0, objective="uk")
    assert cycles(uk) == [["b", "d", "a"]]
    assert uk.objective == (1.0, 3.0, 1.0, 2.0, 3.0)


def test_fewest_three_way_exchanges_and_the_ndds_gift() -> None:
    # NDD n gives to a; a <-> b. Effective exchanges: the two-way cycle, or a chain n -> a or
    # n -> a -> b; all share a, so one at most. Transplants counting n's gift to the list:
    # cycle 2 + 1 (n gives to the list directly), chain n -> a -> b also 2 + 1. The chain of
    # two transplants is a three-way exchange, the cycle is not: the cycle wins.
    pool = pool_of(
        {"n": None, "da": "a", "db": "b"},
        [("n", "a", 1), ("da", "b", 1), ("db", "a", 1)],
    )
    uk = solve(pool, max_cycle=2, max_chain=2, objective="uk")
    assert cycles(uk) == [["b", "a"]]
    assert uk.ndds_to_waiting_list == ("n",)
    assert uk.objective == (1.0, 3.0, 0.0, 0.0, 2.0)
    # Without cycles the chain n -> a -> b is the best: back-arcs 1 (n -> a, the embedded
    # chain of one) + 0 (n cannot give to b) + 0 (b <-> a is no exchange without cycles).
    chains_only = solve(pool, max_cycle=0, max_chain=2, objective="uk")
    assert cycles(chains_only) == [["n", "a", "b"]]
    assert chains_only.objective == (1.0, 3.0, 1.0, 1.0, 2.0)


def test_back_arcs_of_a_chain_of_two() -> None:
    # n -> a -> b with n -> b and b -> a too. Chains of two: n-a-b and n-b-a, each with
    # back-arcs 1 (n -> first) + 1 (n -> second) + 1 (second -> first, with two-way cycles).
    # The cycle a <-> b ties on effective (1) and transplants (2 + 1) and has no three-way:
    # it wins unless cycles are off.
    pool = pool_of(
        {"n": None, "da": "a", "db": "b"},
        [("n", "a", 1), ("n", "b", 1), ("da", "b", 1), ("db", "a", 1)],
    )
    assert solve(pool, max_cycle=2, max_chain=2, objective="uk").objective == (
        1.0,
        3.0,
        0.0,
        0.0,
        2.0,
    )
    chains_only = solve(pool, max_cycle=0, max_chain=2, objective="uk")
    assert chains_only.objective == (1.0, 3.0, 1.0, 2.0, 2.0)
    # max_cycle=1 turns cycles off as well.
    assert solve(pool, max_cycle=1, max_chain=2, objective="uk").objective[3] == 2.0


def test_a_chain_of_three_is_not_effective_two_way() -> None:
    # Only n -> a -> b -> c. Most transplants: all three. UK: a chain of three is not
    # effective, so n -> a -> b (effective, 2 + 1 transplants, three-way, back-arc n -> a).
    pool = pool_of(
        {"n": None, "da": "a", "db": "b", "dc": "c"},
        [("n", "a", 1), ("da", "b", 1), ("db", "c", 1)],
    )
    assert solve(pool, max_cycle=3, max_chain=3, objective="transplants").objective == (3.0,)
    uk = solve(pool, max_cycle=3, max_chain=3, objective="uk")
    assert cycles(uk) == [["n", "a", "b"]]
    assert uk.objective == (1.0, 3.0, 1.0, 1.0, 2.0)


def test_uk_score_chooses_the_donor_by_age() -> None:
    # a has donors a1 (30) and a2 (60), b has b1 (35). a2 -> b scores 1.5, a1 -> b 1.0,
    # b1 -> a 1.0. Highest score: a2 gives (2.5). UK score with a1: 1 + bonus(30, 35) +
    # 1 + bonus(35, 30) = 2 + 2 * 3.04225 = 8.0845; with a2: 2.5 + 2 * 0.02025 = 2.5405.
    pool = pool_of(
        {"a1": "a", "a2": "a", "b1": "b"},
        [("a1", "b", 1.0), ("a2", "b", 1.5), ("b1", "a", 1.0)],
        ages={"a1": 30, "a2": 60, "b1": 35},
    )
    by_score = solve(pool, objective="score")
    assert by_score.objective == (2.5,)
    assert {t.donor for t in by_score.exchanges[0].transplants} == {"a2", "b1"}
    uk = solve(pool, objective="uk")
    assert uk.objective[4] == pytest.approx(2.0 + 2 * NEAR)
    assert {t.donor for t in uk.exchanges[0].transplants} == {"a1", "b1"}


def test_uk_score_chooses_who_gives_to_the_waiting_list() -> None:
    # n (40) -> a, whose donors are a1 (70) and a2 (45). The last donor's age counts:
    # a1 earns bonus(40, 70) = 40**2 * 1e-5 = 0.016, a2 bonus(40, 45) = 3.04225.
    pool = pool_of(
        {"n": None, "a1": "a", "a2": "a"},
        [("n", "a", 2.0)],
        ages={"n": 40, "a1": 70, "a2": 45},
    )
    uk = solve(pool, max_cycle=3, max_chain=1, objective="uk")
    (chain,) = uk.exchanges
    assert chain.to_waiting_list == "a2"
    assert uk.objective == pytest.approx((1.0, 2.0, 0.0, 0.0, 2.0 + NEAR))


def test_uk_score_of_a_long_chain_counts_every_donor() -> None:
    # n (40) -> a (a1 45) -> b (b1 50 or b2 20) -> c (c1 60 or c2 22): chains of three are
    # modelled arc by arc. Best: a1 -> b, then b's donor gives to c and c's donor to the list.
    # b1 gives (b2 has no arc); then c2 (22) is 28 years from b1 (50): 0.01764; c1 (60) is 10
    # years: 3 + 0.036. Scores 1 each, bonuses: (40, 45) 3.04225, (45, 50) 3.04225,
    # (50, 60) 3.036.
    pool = pool_of(
        {"n": None, "a1": "a", "b1": "b", "b2": "b", "c1": "c", "c2": "c"},
        [("n", "a", 1.0), ("a1", "b", 1.0), ("b1", "c", 1.0)],
        ages={"n": 40, "a1": 45, "b1": 50, "b2": 20, "c1": 60, "c2": 22},
    )
    hierarchy_ = [UKTransplants, UKScore]
    result = solve(pool, max_cycle=3, max_chain=3, objective=hierarchy_)
    (chain,) = result.exchanges
    assert [t.donor for t in chain.transplants] == ["n", "a1", "b1"]
    assert chain.to_waiting_list == "c1"
    assert result.objective == pytest.approx((4.0, 3.0 + 2 * NEAR + 3.036))


def test_a_custom_hierarchy_is_solved_in_order() -> None:
    # Fewest three-way exchanges first, then most transplants: the two-way cycle wins over
    # the three-way cycle even though the latter has more transplants.
    pool = pool_of(
        {"da": "a", "db": "b", "dc": "c"},
        [("da", "b", 1), ("db", "c", 1), ("dc", "a", 1), ("db", "a", 1)],
    )
    result = solve(pool, max_cycle=3, objective=[ThreeWay, Transplants])
    assert result.objective == (0.0, 2.0)
    assert [lv.name for lv in result.levels] == ["uk.three_way", "transplants"]
    assert result.policy["objective"] == ["uk.three_way", "transplants"]


def test_objectives_are_objects_with_a_sentence() -> None:
    for level in (*OBJECTIVES["uk"], Transplants, TotalScore):
        assert isinstance(level, Objective)
        assert level.description[0].isupper()
    assert [lv.integral for lv in OBJECTIVES["uk"]] == [True, True, True, True, False]
    assert [lv.counts_ndds for lv in OBJECTIVES["uk"]] == [False, True, False, False, False]
    assert EffectiveTwoWay.feature == "effective_two_way"
    assert not Transplants.counts_ndds


# --- tiny random pools against a lexicographic brute force ----------------------------------

UK_CAPS = [(2, 0), (3, 0), (0, 1), (0, 2), (0, 3), (2, 1), (3, 1), (2, 2), (3, 2), (3, 3), (4, 3)]


def check_uk(pool: object, backend: object, caps: list[tuple[int, int]]) -> None:
    for max_cycle, max_chain in caps:
        result = solve(
            pool,  # type: ignore[arg-type]
            max_cycle=max_cycle,
            max_chain=max_chain,
            objective="uk",
            backend=backend,  # type: ignore[arg-type]
        )
        expected = best_packing(
            pool,  # type: ignore[arg-type]
            max_cycle=max_cycle,
            max_chain=max_chain,
            objective="uk",
        )
        assert approx_equal(result.objective, expected), (max_cycle, max_chain, result.objective)
        recomputed = result_values(pool, result, max_cycle=max_cycle, objective="uk")  # type: ignore[arg-type]
        assert approx_equal(recomputed, expected)
        assert_valid(pool, result, max_cycle=max_cycle, max_chain=max_chain)  # type: ignore[arg-type]


@SETTINGS
@given(pool=pools(max_pairs=6, max_ndds=2, max_donors=2))
def test_uk_optimum_equals_brute_force_without_warm_starts(fakes: object, pool: object) -> None:
    check_uk(pool, fakes.cold_start_highs(), UK_CAPS)  # type: ignore[attr-defined]


@SETTINGS
@given(pool=pools(max_pairs=5, max_ndds=2, max_donors=2), caps=st.sampled_from(UK_CAPS))
def test_uk_optimum_equals_brute_force(pool: object, caps: tuple[int, int]) -> None:
    check_uk(pool, None, [caps])


def test_uk_levels_of_a_pool_without_arcs() -> None:
    # Nothing compatible: every level is 0 except the NDDs' gifts to the waiting list.
    pool = pool_of({"n": None, "m": None, "da": "a"}, [])
    result = solve(pool, objective="uk")
    assert result.objective == (0.0, 2.0, 0.0, 0.0, 0.0)
    assert all(math.isfinite(b) for b in result.bound)
