"""possible: an open platform for living kidney donation through paired exchange."""

from __future__ import annotations

from possible.domain import Arcs, BloodGroup, Donor, Patient, Pool
from possible.errors import (
    FormatError,
    InputError,
    PolicyError,
    PossibleError,
    SolverError,
    ValidationError,
)
from possible.formats import read_pool
from possible.optimise import MatchingResult, Status, solve

__version__ = "0.1.0"

__all__ = [
    "Arcs",
    "BloodGroup",
    "Donor",
    "FormatError",
    "InputError",
    "MatchingResult",
    "Patient",
    "PolicyError",
    "Pool",
    "PossibleError",
    "SolverError",
    "Status",
    "ValidationError",
    "__version__",
    "read_pool",
    "solve",
]
