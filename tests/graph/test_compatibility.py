from __future__ import annotations

import doctest

import numpy as np
import pytest
from hypothesis import given

from oracles import SETTINGS, PoolView, pool_of, pools
from possible.domain import Patient, Pool
from possible.graph import CompatibilityGraph, build_graph, compatibility

# Patients sort as lone, p1, p2, p3, p4; donors as d15 (an NDD whose id sorts among the paired
# donors), d1a, d1b (both p1's), d2, d3, n9 (an NDD). Patients "lone" and p4 have no donor.
POOL = pool_of(
    {"d1a": "p1", "d1b": "p1", "d2": "p2", "d3": "p3", "d15": None, "n9": None},
    [
        ("d1a", "p2", 2.0),
        ("d1b", "p2", 5.0),  # parallel to d1a -> p2, better
        ("d1b", "p3", 1.0),
        ("d2", "p1", 3.0),
        ("d3", "p1", 4.0),
        ("d3", "p4", 9.0),  # to a patient without a paired donor: not in the graph
        ("d2", "lone", 1.0),  # likewise
        ("d15", "p3", 6.0),
        ("n9", "p1", 7.0),
        ("n9", "p2", 7.0),
    ],
    lone=["lone", "p4"],
)


@pytest.fixture(scope="module")
def graph() -> CompatibilityGraph:
    return build_graph(POOL)


def test_vertices_are_pairs_then_ndds(graph: CompatibilityGraph) -> None:
    assert [p.id for p in POOL.patients] == ["lone", "p1", "p2", "p3", "p4"]
    assert [d.id for d in POOL.donors] == ["d15", "d1a", "d1b", "d2", "d3", "n9"]
    assert (graph.n_pairs, graph.n_ndds, graph.n_vertices) == (3, 2, 5)
    assert graph.vertex_patient.tolist() == [1, 2, 3]
    assert graph.patient_vertex.tolist() == [-1, 0, 1, 2, -1]
    # NDDs are numbered after the pairs, in donor-id order.
    assert graph.ndd_donor.tolist() == [0, 5]
    assert graph.donor_vertex.tolist() == [3, 0, 0, 1, 2, 4]
    assert [graph.vertex_label(v) for v in range(5)] == ["p1", "p2", "p3", "d15", "n9"]
    assert [graph.is_ndd(v) for v in range(5)] == [False, False, False, True, True]


def test_a_pair_with_several_donors_is_one_vertex(graph: CompatibilityGraph) -> None:
    assert graph.donor_indptr.tolist() == [0, 2, 3, 4, 5, 6]
    assert [graph.donors_of(v).tolist() for v in range(5)] == [[1, 2], [3], [4], [0], [5]]


def test_arcs_are_csr_sorted_and_remember_their_donor(graph: CompatibilityGraph) -> None:
    assert graph.indptr.tolist() == [0, 3, 4, 5, 6, 8]
    assert graph.source().tolist() == [0, 0, 0, 1, 2, 3, 4, 4]
    assert graph.target.tolist() == [1, 1, 2, 0, 0, 2, 0, 1]
    assert graph.donor.tolist() == [1, 2, 2, 3, 4, 0, 5, 5]
    assert graph.score.tolist() == [2.0, 5.0, 1.0, 3.0, 4.0, 6.0, 7.0, 7.0]
    assert graph.n_arcs == 8
    assert graph.pool is POOL


def test_simple_keeps_the_best_parallel_arc(graph: CompatibilityGraph) -> None:
    indptr, target, score, arc = graph.simple()
    assert indptr.tolist() == [0, 2, 3, 4, 5, 7]
    assert target.tolist() == [1, 2, 0, 0, 2, 0, 1]
    assert score.tolist() == [5.0, 1.0, 3.0, 4.0, 6.0, 7.0, 7.0]
    assert arc.tolist() == [1, 2, 3, 4, 5, 6, 7]  # arc 0 (d1a -> p2, 2.0) is dropped


def test_simple_breaks_ties_by_the_lowest_donor_index() -> None:
    pool = pool_of(
        {"x2": "a", "x1": "a", "x3": "a", "y": "b"},
        [("x2", "b", 4.0), ("x3", "b", 4.0), ("x1", "b", 1.0), ("y", "a", 1.0)],
    )
    graph = build_graph(pool)
    _, target, score, arc = graph.simple()
    assert target.tolist() == [1, 0]
    assert score.tolist() == [4.0, 1.0]
    assert pool.donors[int(graph.donor[arc[0]])].id == "x2"


def test_an_empty_pool_and_a_pool_without_pairs() -> None:
    for pool in (Pool.build([], []), Pool.build([Patient("p")], [])):
        graph = build_graph(pool)
        assert (graph.n_pairs, graph.n_ndds, graph.n_arcs) == (0, 0, 0)
        indptr, target, _, _ = graph.simple()
        assert indptr.tolist() == [0]
        assert target.size == 0


@SETTINGS
@given(pool=pools(max_pairs=6, max_ndds=3, max_lone=2, max_donors=3))
def test_the_graph_holds_every_usable_arc_once(pool: Pool) -> None:
    view = PoolView(pool)
    graph = build_graph(pool)
    assert graph.n_pairs == len(view.pairs)
    assert graph.n_ndds == len(view.ndds)
    labels = [graph.vertex_label(v) for v in range(graph.n_vertices)]
    assert labels == view.pairs + view.ndds
    # CSR shape.
    assert graph.indptr[0] == 0
    assert graph.indptr[-1] == graph.n_arcs
    assert np.all(np.diff(graph.indptr) >= 0)
    # Every arc of the pool to a patient with a paired donor, and nothing else.
    src = graph.source()
    got = sorted(
        (labels[s], labels[t], pool.donors[d].id, sc)
        for s, t, d, sc in zip(
            src.tolist(),
            graph.target.tolist(),
            graph.donor.tolist(),
            graph.score.tolist(),
            strict=True,
        )
    )
    expected = sorted(
        (view.paired_with[d] or d, p, d, s)
        for (d, p), s in view.score.items()
        if p in view.donors_of
    )
    assert got == expected
    keys = list(zip(src.tolist(), graph.target.tolist(), graph.donor.tolist(), strict=True))
    assert keys == sorted(keys)
    assert all(graph.target < graph.n_pairs)
    # simple(): one arc per (source, target), the best, lowest donor first among equals.
    indptr, target, score, arc = graph.simple()
    best: dict[tuple[int, int], tuple[float, int]] = {}
    for k, (s, t, d) in enumerate(keys):
        candidate = (float(graph.score[k]), -d)
        if (s, t) not in best or candidate > best[s, t]:
            best[s, t] = candidate
    s_src = np.repeat(np.arange(graph.n_vertices), np.diff(indptr))
    assert sorted(best) == list(zip(s_src.tolist(), target.tolist(), strict=True))
    for s, t, sc, a in zip(
        s_src.tolist(), target.tolist(), score.tolist(), arc.tolist(), strict=True
    ):
        assert (sc, -int(graph.donor[a])) == best[s, t]
        assert (int(src[a]), int(graph.target[a])) == (s, t)


def test_docstring_examples_run() -> None:
    failures, _ = doctest.testmod(compatibility)
    assert failures == 0


def test_no_arc_of_a_donor_or_patient_who_may_not_be_selected() -> None:
    import datetime as dt

    from possible.domain import Donor, DonorStatus, PatientStatus

    day = dt.date(2026, 1, 1)
    patients = [
        Patient("p1"),
        Patient("p2"),
        Patient("p3", status=PatientStatus.SUSPENDED),
        Patient("p4"),
        Patient("p5"),
    ]
    donors = [
        Donor("d1", "p1", consent=day),
        Donor("d2", "p2", consent=day, status=DonorStatus.WITHDRAWN),
        Donor("d3", "p3", consent=day),
        Donor("d4", "p4", centre="north"),  # clinical record, no consent on record
        Donor("d5", "p5"),  # no clinical record at all, as kep_solver's formats give
        Donor("n1", consent=day, status=DonorStatus.SUSPENDED),
    ]
    every = [(d.id, p.id, 1.0) for d in donors for p in patients if d.patient != p.id]
    graph = build_graph(Pool.build(patients, donors, every))
    pairs = {
        (donors[int(d)].id, patients[int(graph.vertex_patient[t])].id)
        for d, t in zip(graph.donor, graph.target, strict=True)
    }
    # p2 and p4 have no donor who may give, so they are no pair; p3 receives nothing.
    assert pairs == {("d1", "p5"), ("d3", "p1"), ("d3", "p5"), ("d5", "p1")}
    assert [patients[int(j)].id for j in graph.vertex_patient] == ["p1", "p3", "p5"]
    assert graph.n_ndds == 0  # the suspended NDD starts no chain and gives to no waiting list
    assert [int(v) for v in graph.donor_vertex] == [0, -1, 1, -1, 2, -1]


def test_without_clinical_records_every_donor_in_the_file_may_give() -> None:
    from possible.domain import Donor

    pool = Pool.build(
        [Patient("p1"), Patient("p2")],
        [Donor("d1", "p1"), Donor("d2", "p2")],
        [("d1", "p2", 1.0), ("d2", "p1", 1.0)],
    )
    assert build_graph(pool).n_arcs == 2
