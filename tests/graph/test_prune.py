from __future__ import annotations

import random

import networkx as nx
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from oracles import SETTINGS, csr
from possible.generate import saidman_pool
from possible.graph import build_graph, chain_distances, reach
from possible.graph.prune import UNREACHABLE, strong_components

Graph = tuple[int, int, list[tuple[int, int]]]


@st.composite
def pair_graphs(draw: st.DrawFn, *, max_pairs: int = 8, max_ndds: int = 3) -> Graph:
    """``(n_pairs, n_ndds, edges)``: like a compatibility graph, arcs only ever reach pairs."""
    n_pairs = draw(st.integers(0, max_pairs))
    n_ndds = draw(st.integers(0, max_ndds))
    pairs = [(u, v) for u in range(n_pairs + n_ndds) for v in range(n_pairs) if u != v]
    present = draw(st.lists(st.booleans(), min_size=len(pairs), max_size=len(pairs)))
    return n_pairs, n_ndds, [e for e, keep in zip(pairs, present, strict=True) if keep]


def digraph(n: int, edges: list[tuple[int, int]]) -> nx.DiGraph:
    graph = nx.DiGraph()
    graph.add_nodes_from(range(n))
    graph.add_edges_from(edges)
    return graph


def bfs_distances(n_pairs: int, n_ndds: int, edges: list[tuple[int, int]], cap: int) -> list[int]:
    """Hops from the nearest NDD by networkx, UNREACHABLE beyond `cap`."""
    n = n_pairs + n_ndds
    graph = digraph(n, edges)
    graph.add_node("source")
    graph.add_edges_from(("source", v) for v in range(n_pairs, n))
    hops = nx.single_source_shortest_path_length(graph, "source")
    out = []
    for v in range(n):
        d = hops[v] - 1 if v in hops else None
        out.append(d if d is not None and d <= cap else int(UNREACHABLE))
    return out


@SETTINGS
@given(graph=pair_graphs(), cap=st.integers(0, 6))
def test_chain_distances_equal_breadth_first_search(graph: Graph, cap: int) -> None:
    n_pairs, n_ndds, edges = graph
    indptr, target = csr(n_pairs + n_ndds, edges)
    dist = chain_distances(indptr, target, n_pairs, n_ndds, cap)
    assert dist.dtype == np.int32
    assert dist.tolist() == bfs_distances(n_pairs, n_ndds, edges, cap)


@pytest.mark.parametrize(("seed", "cap"), [(1, 2), (2, 4), (3, 20)])
def test_chain_distances_on_a_saidman_pool(seed: int, cap: int) -> None:
    graph = build_graph(saidman_pool(200, ndd_share=0.03, seed=seed))
    indptr, target, _, _ = graph.simple()
    src = np.repeat(np.arange(graph.n_vertices), np.diff(indptr))
    edges = list(zip(src.tolist(), target.tolist(), strict=True))
    dist = chain_distances(indptr, target, graph.n_pairs, graph.n_ndds, cap)
    assert dist.tolist() == bfs_distances(graph.n_pairs, graph.n_ndds, edges, cap)


def cycle_arcs_by_networkx(n_pairs: int, n_ndds: int, edges: list[tuple[int, int]]) -> list[bool]:
    graph = digraph(n_pairs + n_ndds, edges)
    component = {}
    for k, members in enumerate(nx.strongly_connected_components(graph)):
        component.update(dict.fromkeys(members, k))
    by_scc = [u < n_pairs and component[u] == component[v] for u, v in edges]
    # The same thing said another way: the arc u -> v closes a cycle when v reaches u.
    by_path = [u < n_pairs and nx.has_path(graph, v, u) for u, v in edges]
    assert by_scc == by_path
    return by_scc


@SETTINGS
@given(graph=pair_graphs(), max_cycle=st.integers(2, 5), max_chain=st.integers(1, 4))
def test_cycle_arcs_are_the_arcs_inside_strong_components(
    graph: Graph, max_cycle: int, max_chain: int
) -> None:
    n_pairs, n_ndds, edges = graph
    edges = sorted(edges)  # csr() keeps this order, so mask entries line up with edges
    indptr, target = csr(n_pairs + n_ndds, edges)
    kept = reach(indptr, target, n_pairs, n_ndds, max_cycle=max_cycle, max_chain=max_chain)
    assert kept.cycle_arc.tolist() == cycle_arcs_by_networkx(n_pairs, n_ndds, edges)
    if n_ndds:
        assert kept.chain_distance.tolist() == bfs_distances(n_pairs, n_ndds, edges, max_chain)


@SETTINGS
@given(graph=pair_graphs())
def test_caps_that_allow_nothing_prune_everything(graph: Graph) -> None:
    n_pairs, n_ndds, edges = graph
    indptr, target = csr(n_pairs + n_ndds, sorted(edges))
    for max_cycle in (0, 1):
        kept = reach(indptr, target, n_pairs, n_ndds, max_cycle=max_cycle, max_chain=0)
        assert not kept.cycle_arc.any()
        assert kept.cycle_arc.shape == (len(edges),)
        # No chains: no pair can be reached by one.
        assert np.all(kept.chain_distance[:n_pairs] == UNREACHABLE)


def test_strong_components_match_networkx() -> None:
    rng = random.Random(5)
    n = 40
    edges = sorted({(u, v) for u in range(n) for v in range(n) if u != v and rng.random() < 0.04})
    labels = strong_components(*csr(n, edges), n).tolist()
    for members in nx.strongly_connected_components(digraph(n, edges)):
        assert len({labels[v] for v in members}) == 1
    assert len(set(labels)) == nx.number_strongly_connected_components(digraph(n, edges))
