from __future__ import annotations

import doctest
import random

import networkx as nx
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from oracles import SETTINGS, csr, digraphs
from possible.generate import saidman_pool
from possible.graph import build_graph, cycles, enumerate_cycles, reach


def expected_cycles(n: int, edges: list[tuple[int, int]], max_cycle: int) -> list[list[int]]:
    """networkx's bounded simple cycles, each rotated to its smallest vertex, sorted."""
    graph = nx.DiGraph()
    graph.add_nodes_from(range(n))
    graph.add_edges_from(edges)
    found = []
    for cycle in nx.simple_cycles(graph, length_bound=max_cycle):
        start = cycle.index(min(cycle))
        found.append(cycle[start:] + cycle[:start])
    return sorted(found, key=lambda c: (len(c), c))


def check(n: int, edges: list[tuple[int, int]], max_cycle: int) -> None:
    indptr, target = csr(n, edges)
    result = enumerate_cycles(indptr, target, n, max_cycle)
    expected = expected_cycles(n, edges, max_cycle)
    width = max(max_cycle, 2)
    assert result.vertices.dtype == np.int32
    assert result.length.dtype == np.int32
    assert result.vertices.shape == (len(expected), width)
    assert len(result) == len(expected)
    got = [row[:k] for row, k in zip(result.vertices.tolist(), result.length.tolist(), strict=True)]
    assert got == expected
    for row, k in zip(result.vertices.tolist(), result.length.tolist(), strict=True):
        assert row[k:] == [-1] * (width - k)
        assert row[0] == min(row[:k])  # starts at its smallest vertex
    assert len({tuple(c) for c in got}) == len(got)  # each cycle once


@SETTINGS
@given(graph=digraphs(max_vertices=8), max_cycle=st.integers(2, 6))
def test_cycles_equal_networkx(graph: tuple[int, list[tuple[int, int]]], max_cycle: int) -> None:
    n, edges = graph
    check(n, edges, max_cycle)


@pytest.mark.parametrize(
    ("seed", "n", "p", "max_cycle"),
    [(1, 30, 0.1, 3), (2, 40, 0.08, 4), (3, 25, 0.15, 5), (4, 60, 0.05, 3), (5, 12, 0.5, 6)],
)
def test_cycles_equal_networkx_on_larger_graphs(
    seed: int, n: int, p: float, max_cycle: int
) -> None:
    rng = random.Random(seed)
    edges = [(u, v) for u in range(n) for v in range(n) if u != v and rng.random() < p]
    rng.shuffle(edges)
    check(n, edges, max_cycle)


def test_cycles_of_a_saidman_pool_equal_networkx() -> None:
    graph = build_graph(saidman_pool(120, seed=3))
    indptr, target, _, _ = graph.simple()
    src = np.repeat(np.arange(graph.n_vertices), np.diff(indptr))
    check(graph.n_vertices, list(zip(src.tolist(), target.tolist(), strict=True)), 3)


def test_restricting_to_cycle_arcs_loses_no_cycle() -> None:
    # The formulation enumerates on the arcs reach() keeps; no cycle may be lost there.
    graph = build_graph(saidman_pool(150, ndd_share=0.05, seed=9))
    indptr, target, _, _ = graph.simple()
    n = graph.n_vertices
    kept = reach(indptr, target, graph.n_pairs, graph.n_ndds, max_cycle=4, max_chain=2)
    src = np.repeat(np.arange(n), np.diff(indptr))
    edges = list(zip(src[kept.cycle_arc].tolist(), target[kept.cycle_arc].tolist(), strict=True))
    k_indptr, k_target = csr(n, edges)
    full = enumerate_cycles(indptr, target, n, 4)
    pruned = enumerate_cycles(k_indptr, k_target, n, 4)
    np.testing.assert_array_equal(full.vertices, pruned.vertices)
    np.testing.assert_array_equal(full.length, pruned.length)


@SETTINGS
@given(graph=digraphs(max_vertices=7, shuffle_rows=False), seed=st.integers(0, 2**16))
def test_row_order_does_not_change_the_answer(
    graph: tuple[int, list[tuple[int, int]]], seed: int
) -> None:
    n, edges = graph
    shuffled = list(edges)
    random.Random(seed).shuffle(shuffled)
    a = enumerate_cycles(*csr(n, edges), n, 4)
    b = enumerate_cycles(*csr(n, shuffled), n, 4)
    np.testing.assert_array_equal(a.vertices, b.vertices)
    np.testing.assert_array_equal(a.length, b.length)


def test_the_same_graph_gives_the_same_arrays() -> None:
    rng = random.Random(7)
    edges = [(u, v) for u in range(20) for v in range(20) if u != v and rng.random() < 0.2]
    a = enumerate_cycles(*csr(20, edges), 20, 4)
    b = enumerate_cycles(*csr(20, edges), 20, 4)
    assert a.vertices.tobytes() == b.vertices.tobytes()
    assert a.length.tobytes() == b.length.tobytes()


@pytest.mark.parametrize("max_cycle", [0, 1])
def test_caps_below_two_give_no_cycles(max_cycle: int) -> None:
    result = enumerate_cycles(*csr(2, [(0, 1), (1, 0)]), 2, max_cycle)
    assert len(result) == 0
    assert result.vertices.shape == (0, 2)


def test_a_graph_without_arcs_has_no_cycles() -> None:
    result = enumerate_cycles(*csr(3, []), 3, 3)
    assert result.vertices.shape == (0, 3)
    assert result.length.shape == (0,)


def test_a_two_way_and_both_three_way_cycles() -> None:
    # 0 <-> 1, and the triangle 0 -> 1 -> 2 -> 0 and its reverse 0 -> 2 -> 1 -> 0.
    edges = [(0, 1), (1, 0), (1, 2), (2, 0), (0, 2), (2, 1)]
    result = enumerate_cycles(*csr(3, edges), 3, 3)
    assert result.vertices.tolist() == [[0, 1, -1], [0, 2, -1], [1, 2, -1], [0, 1, 2], [0, 2, 1]]
    assert result.length.tolist() == [2, 2, 2, 3, 3]


def test_docstring_examples_run() -> None:
    failures, _ = doctest.testmod(cycles)
    assert failures == 0


def test_enumeration_stops_at_its_deadline() -> None:
    import time

    indptr = np.array([0, 1, 3, 4])
    target = np.array([1, 0, 2, 0], dtype=np.int32)
    with pytest.raises(TimeoutError):
        enumerate_cycles(indptr, target, 3, 3, deadline=time.perf_counter() - 1.0)
    later = enumerate_cycles(indptr, target, 3, 3, deadline=time.perf_counter() + 60.0)
    assert later.vertices.tolist() == [[0, 1, -1], [0, 1, 2]]
