"""possible: an open platform for living kidney donation through paired exchange."""

from __future__ import annotations

from possible.compatibility import build_arcs
from possible.domain import Arcs, BloodGroup, Donor, DonorStatus, Patient, PatientStatus, Pool
from possible.errors import (
    FormatError,
    InputError,
    PolicyError,
    PossibleError,
    SolverError,
    ValidationError,
    ValidationErrors,
)
from possible.formats import read_pool
from possible.optimise import MatchingResult, Status, solve

__version__ = "0.1.0"

__all__ = [
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
