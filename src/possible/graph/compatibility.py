"""The compatibility graph of a pool, held as CSR arrays.

Vertices are pairs (a patient with their paired donors) followed by non-directed donors
(NDDs). Pair vertices are numbered in patient-id order, NDD vertices in donor-id order, so the
numbering depends only on the pool's content. A pair with several donors is one vertex whose
out-arcs are the union of its donors' arcs; every arc remembers the donor that gives it, so
two arcs may join the same two vertices through different donors (parallel arcs).

A patient without any paired donor cannot take part in a cycle or pass a chain on, so they are
not a vertex; the result reports them as unmatched with that reason.

Whatever a pool's arcs say, nobody is selected who may not be. A donor who is not active
(suspended, withdrawn, donated), or whose record carries clinical data but no consent date, is
left out of the graph altogether: no arcs, no place in a pair (a pair whose donors are all
left out is no vertex), no chain to start or end, no gift to the waiting list. Arcs to a patient
who is not active are left out too. So withdrawing a donor in a file whose arcs were written
earlier takes effect at the next solve. Records without clinical fields (kep_solver's and
PrefLib's formats, our version 1) carry neither status nor consent, so their donors may give.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from possible.domain import DonorStatus, PatientStatus, Pool

__all__ = ["CompatibilityGraph", "build_graph"]

IntArray = NDArray[np.int32]
LongArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class CompatibilityGraph:
    """Directed compatibility graph between pairs and NDDs.

    Attributes
    ----------
    pool
        The pool the graph was built from.
    n_pairs, n_ndds
        Vertices ``0 .. n_pairs - 1`` are pairs, ``n_pairs .. n_pairs + n_ndds - 1`` NDDs.
    vertex_patient
        Patient index of each pair vertex (length ``n_pairs``).
    ndd_donor
        Donor index of each NDD vertex (length ``n_ndds``).
    donor_indptr, donor_index
        CSR lists of the donors of each vertex (an NDD's list holds itself).
    patient_vertex
        Pair vertex of each patient of the pool, ``-1`` for a patient without a paired donor
        who may give.
    donor_vertex
        Vertex of each donor of the pool, ``-1`` for a donor who may not give (see the
        module's docstring).
    indptr, target, donor, score
        CSR arcs sorted by (source, target, donor): the target vertex (always a pair), the
        donor index giving the kidney, and the arc's score.
    """

    pool: Pool
    n_pairs: int
    n_ndds: int
    vertex_patient: IntArray
    ndd_donor: IntArray
    donor_indptr: LongArray
    donor_index: IntArray
    patient_vertex: IntArray
    donor_vertex: IntArray
    indptr: LongArray
    target: IntArray
    donor: IntArray
    score: FloatArray

    @property
    def n_vertices(self) -> int:
        """Number of vertices (pairs and NDDs)."""
        return self.n_pairs + self.n_ndds

    @property
    def n_arcs(self) -> int:
        """Number of arcs, parallel arcs included."""
        return int(self.target.shape[0])

    def source(self) -> IntArray:
        """Source vertex of every arc, aligned with :attr:`target`."""
        counts = np.diff(self.indptr)
        return np.repeat(np.arange(self.n_vertices, dtype=np.int32), counts)

    def is_ndd(self, vertex: int) -> bool:
        """Whether `vertex` is a non-directed donor."""
        return vertex >= self.n_pairs

    def donors_of(self, vertex: int) -> IntArray:
        """Donor indices of a vertex (one for an NDD)."""
        return self.donor_index[self.donor_indptr[vertex] : self.donor_indptr[vertex + 1]]

    def vertex_label(self, vertex: int) -> str:
        """Opaque label of a vertex: its patient id for a pair, its donor id for an NDD."""
        if vertex < self.n_pairs:
            return self.pool.patients[int(self.vertex_patient[vertex])].id
        return self.pool.donors[int(self.ndd_donor[vertex - self.n_pairs])].id

    def simple(self) -> tuple[LongArray, IntArray, FloatArray, IntArray]:
        """Collapse parallel arcs: CSR ``(indptr, target, best score, arc id of the best)``.

        Among parallel arcs the one with the highest score is kept, ties broken by the lowest
        donor index, so the choice is deterministic.
        """
        src = self.source()
        n = self.n_arcs
        if n == 0:
            empty_i = np.zeros(0, dtype=np.int32)
            return np.zeros(self.n_vertices + 1, np.int64), empty_i, np.zeros(0), empty_i
        # Order by (src, tgt, -score, donor): first of each group is the best arc.
        order = np.lexsort((self.donor, -self.score, self.target, src))
        s, t = src[order], self.target[order]
        first = np.ones(n, dtype=bool)
        first[1:] = (s[1:] != s[:-1]) | (t[1:] != t[:-1])
        keep = order[first]
        keep.sort()  # arcs are already sorted by (src, tgt, donor): restore that order
        counts = np.bincount(src[keep], minlength=self.n_vertices)
        indptr = np.zeros(self.n_vertices + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        return indptr, self.target[keep], self.score[keep], keep.astype(np.int32)


def build_graph(pool: Pool) -> CompatibilityGraph:
    """Build the compatibility graph of a pool.

    Parameters
    ----------
    pool
        A validated pool.

    Returns
    -------
    CompatibilityGraph
        Arcs from every donor to every compatible patient who has a paired donor; arcs to
        patients without a paired donor are left out, and so are arcs of donors and patients
        who may not be selected (see the module's docstring).

    Examples
    --------
    >>> from possible.domain import Donor, Patient, Pool
    >>> pool = Pool.build(
    ...     [Patient("p1"), Patient("p2")],
    ...     [Donor("d1", patient="p1"), Donor("d2", patient="p2"), Donor("n1")],
    ...     [("d1", "p2", 1.0), ("d2", "p1", 1.0), ("n1", "p1", 1.0)],
    ... )
    >>> g = build_graph(pool)
    >>> (g.n_pairs, g.n_ndds, g.n_arcs)
    (2, 1, 3)
    """
    n_patients = len(pool.patients)
    n_donors = len(pool.donors)
    selectable = _selectable_donors(pool)
    donor_patient = np.array(
        [pool.patient_index(d.patient) if d.patient is not None else -1 for d in pool.donors],
        dtype=np.int64,
    ).reshape(n_donors)
    paired = (donor_patient >= 0) & selectable
    has_donor = np.zeros(n_patients, dtype=bool)
    has_donor[donor_patient[paired]] = True
    vertex_patient = np.flatnonzero(has_donor).astype(np.int32)
    n_pairs = int(vertex_patient.shape[0])
    ndd_donor = np.flatnonzero((donor_patient < 0) & selectable).astype(np.int32)
    n_ndds = int(ndd_donor.shape[0])

    patient_vertex = np.full(n_patients, -1, dtype=np.int32)
    patient_vertex[vertex_patient] = np.arange(n_pairs, dtype=np.int32)
    donor_vertex = np.full(n_donors, -1, dtype=np.int32)
    donor_vertex[paired] = patient_vertex[donor_patient[paired]]
    donor_vertex[ndd_donor] = n_pairs + np.arange(n_ndds, dtype=np.int32)

    # Donors of each vertex, in donor-index order (donors left out belong to none).
    members = np.flatnonzero(donor_vertex >= 0)
    order = members[np.argsort(donor_vertex[members], kind="stable")]
    donor_counts = np.bincount(donor_vertex[members], minlength=n_pairs + n_ndds)
    donor_indptr = np.zeros(n_pairs + n_ndds + 1, dtype=np.int64)
    np.cumsum(donor_counts, out=donor_indptr[1:])

    arcs = pool.arcs
    tgt = patient_vertex[arcs.patient]
    usable = (tgt >= 0) & selectable[arcs.donor] & _active_patients(pool)[arcs.patient]
    a_src = donor_vertex[arcs.donor[usable]]
    a_tgt = tgt[usable]
    a_donor = arcs.donor[usable]
    a_score = arcs.score[usable]
    arc_order = np.lexsort((a_donor, a_tgt, a_src))
    a_src, a_tgt, a_donor, a_score = (
        a_src[arc_order],
        a_tgt[arc_order],
        a_donor[arc_order],
        a_score[arc_order],
    )
    indptr = np.zeros(n_pairs + n_ndds + 1, dtype=np.int64)
    np.cumsum(np.bincount(a_src, minlength=n_pairs + n_ndds), out=indptr[1:])
    return CompatibilityGraph(
        pool=pool,
        n_pairs=n_pairs,
        n_ndds=n_ndds,
        vertex_patient=vertex_patient,
        ndd_donor=ndd_donor,
        donor_indptr=donor_indptr,
        donor_index=order.astype(np.int32),
        patient_vertex=patient_vertex,
        donor_vertex=donor_vertex,
        indptr=indptr,
        target=a_tgt.astype(np.int32),
        donor=a_donor.astype(np.int32),
        score=a_score.astype(np.float64),
    )


def _selectable_donors(pool: Pool) -> NDArray[np.bool_]:
    """Whether each donor may give.

    Active, and with consent on record if the record carries clinical data (a record without
    any, as kep_solver's formats give, records no consent either), dated no later than the
    pool's run date.
    """
    run = pool.as_of
    return np.array(
        [
            d.status is DonorStatus.ACTIVE
            and (d.consent is not None or not d.clinical)
            and (d.consent is None or run is None or d.consent <= run)
            for d in pool.donors
        ],
        dtype=bool,
    ).reshape(len(pool.donors))


def _active_patients(pool: Pool) -> NDArray[np.bool_]:
    """Whether each patient may receive (only active patients may)."""
    return np.array([p.status is PatientStatus.ACTIVE for p in pool.patients], dtype=bool).reshape(
        len(pool.patients)
    )
