"""Arc scoring policies: how many points each compatible transplant is worth, and why.

A policy is a points table: a list of *components*, each giving points from one fact about the
transplant (the patient's sensitisation, waiting time, the HLA mismatch level, the age
difference between the two donors of an exchange, ...). Every arc keeps its points per
component, so a coordinator can see why one transplant scored more than another. Policies are
read from TOML or JSON::

    name = "my-programme"
    description = "Points used by my programme since 2026"

    [[component]]
    name = "transplant"          # a constant: points for every arc
    points = 1

    [[component]]
    name = "sensitisation"
    fact = "cpra"                # points by band: [low, high) -> points
    bands = [[0.0, 0.85, 0], [0.85, 0.95, 5], [0.95, 1.01, 10]]

    [[component]]
    name = "waiting time"
    fact = "waiting_years"       # points per unit, optionally capped
    per_unit = 1.0
    max = 10

    [[component]]
    name = "HLA match"
    fact = "mismatch_level"      # points per value
    values = {1 = 10, 2 = 5, 3 = 2, 4 = 0}

A fact that is unknown for an arc (an untyped locus, a missing age) earns no points from its
component. The shipped policies are ``uk`` (the structure of the UK Living Kidney Sharing
Scheme's score; see ``docs/compatibility.md`` on its point values) and ``transplants`` (one
point per transplant).
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from possible.errors import PolicyError

__all__ = ["FACTS", "ArcFacts", "Component", "ScoringPolicy", "scoring_policy"]

FACTS = {
    "cpra": "the patient's cPRA (0 to 1)",
    "waiting_years": "years since the patient was listed, at the run date",
    "dialysis_years": "years since the patient started dialysis, at the run date",
    "matching_runs": "earlier matching runs the patient has been in",
    "patient_age": "the patient's age in years",
    "donor_age": "the donor's age in years",
    "age_difference": "absolute donor-patient age difference in years",
    "donor_age_difference": (
        "completed years between the giving donor and the patient's own donor (the closest"
        " in age of those who may give)"
    ),
    "mismatch_a": "HLA-A mismatches (0 to 2)",
    "mismatch_b": "HLA-B mismatches (0 to 2)",
    "mismatch_dr": "HLA-DR mismatches (0 to 2)",
    "mismatch_level": "UK HLA mismatch level (1 best to 4)",
    "previous_transplants": "the patient's previous kidney transplants",
    "abo_identical": "1 if donor and patient have the same blood group, else 0",
}
"""The facts a component may score, with their meaning."""

FACT_MAXIMUM = {
    "cpra": 1.0,
    "mismatch_a": 2.0,
    "mismatch_b": 2.0,
    "mismatch_dr": 2.0,
    "mismatch_level": 4.0,
    "abo_identical": 1.0,
}
"""The largest value of the bounded facts: a band ending there includes it."""


@dataclass(frozen=True, slots=True)
class ArcFacts:
    """The facts of each arc, as parallel arrays (NaN where unknown).

    Attributes
    ----------
    values
        Fact name (a key of :data:`FACTS`) -> one float per arc.
    """

    values: Mapping[str, NDArray[np.float64]]

    def __len__(self) -> int:
        first = next(iter(self.values.values()), None)
        return 0 if first is None else int(first.shape[0])


@dataclass(frozen=True, slots=True)
class Component:
    """One line of a points table.

    Exactly one of `points` (a constant), `bands`, `per_unit` or `values` is set; the last
    three need `fact`.
    """

    name: str
    fact: str | None = None
    points: float | None = None
    bands: tuple[tuple[float, float, float], ...] | None = None
    per_unit: float | None = None
    max: float | None = None
    values: tuple[tuple[float, float], ...] | None = None

    def score(self, facts: ArcFacts, n: int) -> NDArray[np.float64]:
        """Points of this component for each of the `n` arcs."""
        if self.points is not None:
            return np.full(n, self.points)
        assert self.fact is not None
        x = facts.values[self.fact]
        out = np.zeros(n)
        known = ~np.isnan(x)
        if self.bands is not None:
            # Bands are [low, high), except one that ends at the fact's own maximum, which
            # takes it too: a band written [0.95, 1.0] must give a cPRA of 1.0 its points.
            ceiling = FACT_MAXIMUM.get(self.fact, math.inf)
            for low, high, pts in self.bands:
                inside = (x >= low) & ((x < high) | ((high == ceiling) & (x == high)))
                out[known & inside] = pts
        elif self.per_unit is not None:
            out[known] = np.maximum(x[known] * self.per_unit, 0.0)  # points are never negative
            if self.max is not None:
                np.minimum(out, self.max, out=out)
        elif self.values is not None:
            for value, pts in self.values:
                out[known & (x == value)] = pts
        return out


@dataclass(frozen=True, slots=True)
class ScoringPolicy:
    """A points table.

    Attributes
    ----------
    name
        Short name, recorded with every matching run.
    description
        One line for people.
    components
        The lines of the table.
    """

    name: str
    description: str
    components: tuple[Component, ...]

    def digest(self) -> str:
        """Return a short fingerprint of the whole table, recorded with a run beside its name."""
        text = json.dumps(dataclasses.asdict(self), sort_keys=True, default=str)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

    def score(self, facts: ArcFacts) -> dict[str, NDArray[np.float64]]:
        """Points per component for every arc; the arc's score is their sum."""
        n = len(facts)
        return {c.name: c.score(facts, n) for c in self.components}

    @classmethod
    def from_mapping(cls, doc: Mapping[str, Any], *, source: str = "policy") -> ScoringPolicy:
        """Build a policy from a parsed TOML/JSON document (see the module notes).

        Raises
        ------
        PolicyError
            Naming the component and key: an unknown fact, a negative number of points, a
            component with no or with two kinds of rule, overlapping bands. Every bad
            component is reported (in ``PolicyError.problems``), not only the first.
        """
        problems = []
        name = doc.get("name")
        if not isinstance(name, str) or not name:
            problems.append(f"{source}: a scoring policy needs a 'name'")
        raw = doc.get("component")
        if not isinstance(raw, list) or not raw:
            problems.append(f"{source}: a scoring policy needs at least one [[component]]")
            raw = []
        components = []
        for k, line in enumerate(raw):
            try:
                components.append(_component(source, k, line))
            except PolicyError as err:  # every bad line is reported, each with its first fault
                problems.extend(err.problems)
        names = [c.name for c in components]
        if len(set(names)) != len(names):
            problems.append(f"{source}: component names must be unique, got {names}")
        if problems:
            raise PolicyError(*problems)
        assert isinstance(name, str)
        return cls(name, str(doc.get("description", "")), tuple(components))

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> ScoringPolicy:
        """Read a policy from a ``.toml`` or ``.json`` file."""
        where = str(path)
        try:
            text = Path(path).read_text("utf-8")
            doc = json.loads(text) if where.endswith(".json") else tomllib.loads(text)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, tomllib.TOMLDecodeError) as e:
            raise PolicyError(f"{where}: cannot read scoring policy: {e}") from None
        return cls.from_mapping(doc, source=where)


def scoring_policy(name_or_path: str | os.PathLike[str] | ScoringPolicy) -> ScoringPolicy:
    """Return a shipped policy by name (``"uk"``, ``"transplants"``) or one read from a file.

    Examples
    --------
    >>> scoring_policy("transplants").components[0].points
    1.0
    """
    if isinstance(name_or_path, ScoringPolicy):
        return name_or_path
    name = str(name_or_path)
    shipped = resources.files("possible.compatibility").joinpath("policies", f"{name}.toml")
    if "/" not in name and "." not in name:
        if not shipped.is_file():
            raise PolicyError(f"unknown scoring policy {name!r} (shipped: uk, transplants)")
        return ScoringPolicy.from_mapping(tomllib.loads(shipped.read_text("utf-8")), source=name)
    return ScoringPolicy.read(name)


def _number(source: str, where: str, key: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise PolicyError(f"{source}: {where}: {key} must be a number, got {value!r}")
    return float(value)


def _points(source: str, where: str, value: object) -> float:
    pts = _number(source, where, "points", value)
    if pts < 0:
        raise PolicyError(f"{source}: {where}: points must be >= 0 (scores are never negative)")
    return pts


def _component(source: str, k: int, raw: object) -> Component:
    where = f"component {k + 1}"
    if not isinstance(raw, dict):
        raise PolicyError(f"{source}: {where} is not a table")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise PolicyError(f"{source}: {where} needs a 'name'")
    where = f"component {name!r}"
    known = {"name", "fact", "points", "bands", "per_unit", "max", "values"}
    for key in raw:
        if key not in known:
            raise PolicyError(f"{source}: {where}: unknown key {key!r}")
    kinds = [key for key in ("points", "bands", "per_unit", "values") if key in raw]
    if len(kinds) != 1:
        raise PolicyError(f"{source}: {where}: give exactly one of points, bands, per_unit, values")
    if "max" in raw and kinds != ["per_unit"]:
        raise PolicyError(f"{source}: {where}: max caps per_unit points only")
    if kinds == ["points"]:
        if "fact" in raw:
            raise PolicyError(f"{source}: {where}: constant points take no fact")
        return Component(name, points=_points(source, where, raw["points"]))
    fact = raw.get("fact")
    if fact not in FACTS:
        raise PolicyError(
            f"{source}: {where}: unknown fact {fact!r} (known: {', '.join(sorted(FACTS))})"
        )
    if "bands" in raw:
        bands = raw["bands"]
        if not isinstance(bands, list) or not bands:
            raise PolicyError(f"{source}: {where}: bands must be a list of [low, high, points]")
        parsed = []
        for band in bands:
            if not isinstance(band, list) or len(band) != 3:
                raise PolicyError(f"{source}: {where}: each band is [low, high, points]")
            low = _number(source, where, "band low", band[0])
            high = _number(source, where, "band high", band[1])
            if not low < high:
                raise PolicyError(f"{source}: {where}: band [{low}, {high}) is empty")
            parsed.append((low, high, _points(source, where, band[2])))
        parsed.sort()
        for (_, h1, _), (l2, _, _) in itertools.pairwise(parsed):
            if l2 < h1:
                raise PolicyError(f"{source}: {where}: bands overlap")
        return Component(name, fact=fact, bands=tuple(parsed))
    if "per_unit" in raw:
        cap = raw.get("max")
        return Component(
            name,
            fact=fact,
            per_unit=_points(source, where, raw["per_unit"]),
            max=None if cap is None else _points(source, where, cap),
        )
    values = raw["values"]
    if not isinstance(values, dict) or not values:
        raise PolicyError(f"{source}: {where}: values must map a fact value to points")
    pairs = []
    for key, pts in values.items():
        try:
            value = float(key)
        except ValueError:
            raise PolicyError(f"{source}: {where}: value {key!r} is not a number") from None
        pairs.append((value, _points(source, where, pts)))
    return Component(name, fact=fact, values=tuple(sorted(pairs)))
