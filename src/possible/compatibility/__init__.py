"""Compatibility from clinical data: blood groups, virtual crossmatch, HLA mismatch, scoring.

:func:`build_arcs` turns a pool's clinical records into its arcs, each with a score and its
breakdown, and keeps the reason for every pair it excludes.
"""

from possible.compatibility.abo import AboRule
from possible.compatibility.build import Compatibility, Exclusion, Rules, Verdict, build_arcs
from possible.compatibility.scoring import ScoringPolicy, scoring_policy

__all__ = [
    "AboRule",
    "Compatibility",
    "Exclusion",
    "Rules",
    "ScoringPolicy",
    "Verdict",
    "build_arcs",
    "scoring_policy",
]
