"""The formulation's columns: their UK scores with the best choice of donors, and a solution
with shorter chains carrying over to longer chains."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from oracles import Option, PoolView, option_values, options, random_pool
from possible.graph import build_graph
from possible.optimise import MipStatus, formulation
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


def _steps(view: PoolView, option: Option) -> frozenset[tuple[str, str]]:
    """An exchange's steps as (giving pair or NDD, receiving pair) ids."""
    return frozenset((view.paired_with[d] or d, p) for d, p, _ in option.transplants)


@pytest.mark.parametrize("seed", range(12))
def test_each_uk_column_takes_its_best_choice_of_donors(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    if seed % 2:  # score the donor choices of a few cycles at a time
        monkeypatch.setattr(formulation, "CHOICES_PER_BATCH", 5)
    # Half the pairs have two donors: every cycle and short chain through them may be given by
    # several choices of donors (and, for a chain, of the donor who goes to the waiting list).
    # Each column's UK score must be the best of these, and its arcs one that reaches it.
    pool = random_pool(seed, n_pairs=10, n_ndds=3, density=0.4, multi_share=0.5)
    graph = build_graph(pool)
    view = PoolView(pool)
    form = build_formulation(graph, max_cycle=3, max_chain=2, uk=True)
    best: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for option in options(view, max_cycle=3, max_chain=2):
        key = (option.kind, _steps(view, option))
        value = option_values(view, option, max_cycle=3)["uk.score"]
        best[key] = max(best.get(key, -np.inf), value)
    donors = [d.id for d in pool.donors]

    def chosen(kind: str, arcs: list[int], end: str | None) -> tuple[tuple[str, frozenset], float]:
        option = Option(
            kind,
            tuple(
                (donors[graph.donor[a]], graph.vertex_label(int(graph.target[a])), graph.score[a])
                for a in arcs
            ),
            end,
        )
        key = (kind, _steps(view, option))
        return key, option_values(view, option, max_cycle=3)["uk.score"]

    uk = form.features.uk_score
    for c in range(form.n_cycle_cols):
        key, value = chosen("cycle", [int(a) for a in form.cycle_arcs[c] if a >= 0], None)
        assert uk[c] == pytest.approx(best[key], abs=1e-9)
        assert value == pytest.approx(uk[c], abs=1e-9)
    for i in range(form.n_chain_cols):
        arcs = [int(a) for a in form.chain_arcs[i] if a >= 0]
        end = donors[int(form.chain_end_donor[i])]
        key, value = chosen("chain", arcs, end)
        assert uk[form.n_cycle_cols + i] == pytest.approx(best[key], abs=1e-9)
        assert value == pytest.approx(uk[form.n_cycle_cols + i], abs=1e-9)
    assert form.n_cycle_cols
    assert form.n_chain_cols


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
