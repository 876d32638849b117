"""The formulation's columns: a solution with shorter chains carries over to longer chains."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from oracles import random_pool
from possible.graph import build_graph
from possible.optimise import MipStatus
from possible.optimise.formulation import Formulation, build_formulation, carry_over
from possible.optimise.highs import HighsBackend

FEATURES = ("transplants", "score", "effective_two_way", "three_way", "back_arcs", "uk_score")


def _best(form: Formulation, feature: str) -> np.ndarray:
    """An optimal 0/1 solution of `form` for one feature."""
    objective = getattr(form.features, feature)
    sol = HighsBackend().solve(dataclasses.replace(form.problem, objective=objective))
    assert sol.status is MipStatus.OPTIMAL
    return sol.x


def _meets_rows(form: Formulation, x: np.ndarray) -> bool:
    activity = form.problem.matrix() @ x
    return bool(
        np.all(activity >= form.problem.row_lower - 1e-9)
        and np.all(activity <= form.problem.row_upper + 1e-9)
    )


@pytest.mark.parametrize("uk", [False, True])
@pytest.mark.parametrize("seed", range(5))
def test_a_solution_with_shorter_chains_is_one_with_longer_chains(seed: int, uk: bool) -> None:
    pool = random_pool(seed, n_pairs=18, n_ndds=3, density=0.2)
    graph = build_graph(pool)
    shorter = build_formulation(graph, max_cycle=3, max_chain=3, uk=uk)
    for longer_cap in (4, 6):
        longer = build_formulation(graph, max_cycle=3, max_chain=longer_cap, uk=uk)
        for feature in ("transplants", "uk_score" if uk else "score"):
            x = _best(shorter, feature)
            mapped = carry_over(shorter, longer, x)
            assert mapped is not None
            assert set(np.unique(mapped)) <= {0.0, 1.0}
            assert _meets_rows(longer, mapped)
            # The same exchanges: every feature is worth the same in both models.
            for name in FEATURES:
                before = float(getattr(shorter.features, name) @ x)
                after = float(getattr(longer.features, name) @ mapped)
                assert after == pytest.approx(before), (feature, name)
            # And a longer cap never does worse.
            assert float(getattr(longer.features, feature) @ _best(longer, feature)) >= (
                float(getattr(shorter.features, feature) @ x) - 1e-9
            )


def test_nothing_selected_carries_over_as_nothing() -> None:
    graph = build_graph(random_pool(1, n_pairs=10, n_ndds=2, density=0.3))
    shorter = build_formulation(graph, max_cycle=3, max_chain=3, uk=False)
    longer = build_formulation(graph, max_cycle=3, max_chain=5, uk=False)
    mapped = carry_over(shorter, longer, np.zeros(shorter.problem.n_cols))
    assert mapped is not None
    assert not mapped.any()


def test_models_that_do_not_match_are_refused() -> None:
    # A cycle of the shorter model has no counterpart in a model without cycles.
    graph = build_graph(random_pool(2, n_pairs=14, n_ndds=2, density=0.3))
    shorter = build_formulation(graph, max_cycle=3, max_chain=3, uk=False)
    no_cycles = build_formulation(graph, max_cycle=0, max_chain=5, uk=False)
    x = _best(shorter, "transplants")
    assert x[: shorter.n_cycle_cols].any()
    assert carry_over(shorter, no_cycles, x) is None


def test_a_column_missing_from_the_longer_model_is_refused() -> None:
    # Same sizes, other arcs: some of the shorter model's exchanges do not exist in the other.
    shorter = build_formulation(
        build_graph(random_pool(3, n_pairs=14, n_ndds=2, density=0.3)),
        max_cycle=3,
        max_chain=3,
        uk=False,
    )
    other = build_formulation(
        build_graph(random_pool(4, n_pairs=14, n_ndds=2, density=0.3)),
        max_cycle=3,
        max_chain=5,
        uk=False,
    )
    x = _best(shorter, "transplants")
    assert carry_over(shorter, other, x) is None
