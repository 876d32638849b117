"""The public API is small and deliberate: this list changes only on purpose."""

from __future__ import annotations

import possible


def test_exported_members() -> None:
    assert possible.__all__ == [
        "Arcs",
        "BloodGroup",
        "Donor",
        "DonorStatus",
        "FormatError",
        "InputError",
        "MatchingResult",
        "Patient",
        "PatientStatus",
        "PolicyError",
        "Pool",
        "PossibleError",
        "SolverError",
        "Status",
        "ValidationError",
        "ValidationErrors",
        "__version__",
        "build_arcs",
        "read_pool",
        "solve",
    ]
    for name in possible.__all__:
        assert hasattr(possible, name), name
