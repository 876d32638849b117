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

__version__ = "0.1.0"

__all__ = [
    "Arcs",
    "BloodGroup",
    "Donor",
    "FormatError",
    "InputError",
    "Patient",
    "PolicyError",
    "Pool",
    "PossibleError",
    "SolverError",
    "ValidationError",
    "__version__",
]
