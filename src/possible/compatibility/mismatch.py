"""HLA mismatches between donor and patient, counted as the UK schemes count them.

A donor antigen at HLA-A, -B or -DR is *mismatched* when the patient has no antigen at that
locus that is the same or cannot be told apart from it (one broader than the other: a patient
typed A9 is not mismatched for a donor's A24, nor a patient typed A24 for A2403; A23 and A24 are
two different splits of A9 and mismatch). A homozygous donor has one antigen at the locus, so
at most one mismatch there. The counts are written A-B-DR, e.g. ``110``.

The UK's mismatch levels (2006 National Kidney Allocation Scheme) group them:

=====  =====================================================
level  mismatches
=====  =====================================================
1      000
2      0 DR and 0 or 1 B (not 000)
3      0 DR and 2 B; or 1 DR and 0 or 1 B
4      1 DR and 2 B; or 2 DR
=====  =====================================================
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from possible.hla.nomenclature import PUBLIC_EPITOPES, Nomenclature

__all__ = ["MISMATCH_LOCI", "LocusTypes", "mismatch_counts", "mismatch_level"]

MISMATCH_LOCI = ("A", "B", "DRB1")
"""The loci counted, in A-B-DR order."""


class LocusTypes:
    """The antigens (at most two) of each person at one locus, as small integer codes.

    Parameters
    ----------
    locus
        ``"A"``, ``"B"`` or ``"DRB1"``.
    typings
        One tuple of tokens per person (all loci; other loci are skipped).
    table
        The nomenclature.
    """

    def __init__(self, locus: str, typings: Sequence[Sequence[str]], table: Nomenclature) -> None:
        # Bw4 and Bw6 are epitopes shared by many B antigens, not B antigens of their own.
        vocab = [a for a in table.antigens(locus) if a not in PUBLIC_EPITOPES]
        code = {a: i for i, a in enumerate(vocab)}
        slots = np.full((len(typings), 2), -1, dtype=np.int32)
        for row, typing in enumerate(typings):
            # One entry per antigen: names that may be the same antigen (a broad and its
            # split, A9 and A24) are one, kept at the narrowest.
            found: list[str] = []
            for token in typing:
                if table.locus(token) != locus:
                    continue
                antigen = table.antigen(token)
                if antigen is None or antigen not in code:
                    continue
                same = next((k for k, b in enumerate(found) if table.related(antigen, b)), None)
                if same is None:
                    found.append(antigen)
                elif found[same] in table.ancestors(antigen):
                    found[same] = antigen
            kept = [code[a] for a in found[:2]]
            slots[row, : len(kept)] = kept
        self.slots = slots
        self.related = np.array([[table.related(a, b) for b in vocab] for a in vocab], dtype=bool)


def mismatch_counts(
    donors: LocusTypes, patients: LocusTypes, donor: NDArray[np.int32], patient: NDArray[np.int32]
) -> NDArray[np.int8]:
    """Mismatched donor antigens for each (donor, patient) arc at one locus.

    Returns
    -------
    numpy.ndarray
        ``int8`` per arc: 0, 1 or 2; -1 where the donor or the patient is not typed there.
    """
    d = donors.slots[donor]
    p = patients.slots[patient]
    count = np.zeros(donor.shape[0], dtype=np.int8)
    for k in (0, 1):
        dk = d[:, k]
        matched = np.zeros(donor.shape[0], dtype=bool)
        for ell in (0, 1):
            pl = p[:, ell]
            both = (dk >= 0) & (pl >= 0)
            matched[both] |= donors.related[dk[both], pl[both]]
        count += ((dk >= 0) & ~matched).astype(np.int8)
    count[(d[:, 0] < 0) | (p[:, 0] < 0)] = -1
    return count


def mismatch_level(
    a: NDArray[np.int8], b: NDArray[np.int8], dr: NDArray[np.int8]
) -> NDArray[np.int8]:
    """Return the UK mismatch level (1 best, 4 worst) from counts; 0 where a count is unknown.

    Examples
    --------
    >>> import numpy as np
    >>> mismatch_level(np.array([0, 1, 2, 0]), np.array([0, 1, 2, 2]), np.array([0, 0, 1, 2]))
    array([1, 2, 4, 4], dtype=int8)
    """
    level = np.full(a.shape, 4, dtype=np.int8)
    level[((dr == 0) & (b == 2)) | ((dr == 1) & (b <= 1))] = 3
    level[(dr == 0) & (b <= 1)] = 2
    level[(a == 0) & (b == 0) & (dr == 0)] = 1
    level[(a < 0) | (b < 0) | (dr < 0)] = 0
    return level
