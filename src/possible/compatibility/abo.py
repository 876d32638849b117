"""ABO blood group compatibility, with the optional A2 rule.

The standard rule: O gives to everyone, A to A and AB, B to B and AB, AB to AB only. Some
programmes also accept donors of the weak A subgroup A2 (and A2B) for patients of group O and B
(and A2B for B) whose anti-A antibody titre is low; :class:`AboRule` turns that on with the
highest titre allowed. It is off by default.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from possible.domain import ABO_COMPATIBLE, BLOOD_GROUP_ORDER, BloodGroup
from possible.errors import PolicyError

__all__ = ["GROUP_CODE", "AboRule", "abo_matrix"]

GROUP_CODE = {group: code for code, group in enumerate(BLOOD_GROUP_ORDER)}
"""Integer code of each blood group in the arrays below (-1: unknown)."""


@dataclass(frozen=True, slots=True)
class AboRule:
    """How blood groups decide compatibility.

    Parameters
    ----------
    a2_max_titre
        ``None`` (default): the standard rule only. A number: an A2 donor may also give to an
        O or B patient, and an A2B donor to a B patient, whose recorded anti-A titre
        (reciprocal, e.g. 8 for 1:8) is at most this. A patient without a recorded titre is
        never eligible.
    """

    a2_max_titre: int | None = None

    def __post_init__(self) -> None:
        t = self.a2_max_titre
        if t is not None and (isinstance(t, bool) or not isinstance(t, int) or t < 1):
            raise PolicyError(
                f"the A2 rule's anti-A titre limit (a2_max_titre, --a2-max-titre) must be a "
                f"whole number >= 1, got {t!r}"
            )


def abo_matrix(
    donor_groups: Sequence[BloodGroup | None],
    donor_subgroups: Sequence[str | None],
    patient_groups: Sequence[BloodGroup | None],
    patient_titres: Sequence[int | None],
    rule: AboRule,
) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Which donors are ABO-compatible with which patients.

    Returns
    -------
    compatible, by_a2
        Boolean arrays ``(donors, patients)``: compatible at all, and compatible only through
        the A2 rule. A person with an unknown blood group is compatible with no one.
    """
    d = np.array([GROUP_CODE[g] if g is not None else -1 for g in donor_groups], dtype=np.int64)
    p = np.array([GROUP_CODE[g] if g is not None else -1 for g in patient_groups], dtype=np.int64)
    ok = ABO_COMPATIBLE[np.maximum(d, 0)[:, None], np.maximum(p, 0)[None, :]]
    ok &= (d >= 0)[:, None] & (p >= 0)[None, :]
    by_a2 = np.zeros_like(ok)
    if rule.a2_max_titre is not None:
        limit = rule.a2_max_titre
        low = np.array([t is not None and t <= limit for t in patient_titres], dtype=bool)
        a2 = np.array([s == "A2" for s in donor_subgroups], dtype=bool)
        a2b = np.array([s == "A2B" for s in donor_subgroups], dtype=bool)
        to_o_or_b = low & ((p == GROUP_CODE[BloodGroup.O]) | (p == GROUP_CODE[BloodGroup.B]))
        to_b = low & (p == GROUP_CODE[BloodGroup.B])
        extra = (a2[:, None] & to_o_or_b[None, :]) | (a2b[:, None] & to_b[None, :])
        by_a2 = extra & ~ok
        ok = ok | extra
    return ok, by_a2
