"""Points tables: the shipped policies, files, and the errors of bad ones."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from possible.compatibility.scoring import FACTS, ArcFacts, ScoringPolicy, scoring_policy
from possible.errors import PolicyError


def facts(**values: list[float]) -> ArcFacts:
    return ArcFacts({k: np.array(v, dtype=np.float64) for k, v in values.items()})


NAN = math.nan


def test_transplants_policy_gives_one_point_per_arc() -> None:
    parts = scoring_policy("transplants").score(facts(cpra=[0.1, 0.99]))
    assert {k: v.tolist() for k, v in parts.items()} == {"transplant": [1.0, 1.0]}


def test_uk_policy_breakdown_by_hand() -> None:
    policy = scoring_policy("uk")
    parts = policy.score(
        facts(
            cpra=[0.0, 0.9, 0.99, NAN],
            matching_runs=[2, 12, 48, NAN],
            mismatch_level=[1, 2, 4, NAN],
            donor_age_difference=[5, 25, 20, NAN],  # completed years: 20 is within
        )
    )
    got = {k: v.tolist() for k, v in parts.items()}
    assert got == {
        "transplant": [1, 1, 1, 1],
        "sensitisation": [0, 5, 10, 0],
        "waiting time": [0.5, 3.0, 10.0, 0],  # a quarter per run, capped at 10; unknown: none
        "HLA mismatch": [10, 5, 0, 0],
        "age difference": [3, 0, 3, 0],
    }


POLICY = """
name = "mine"
description = "test"

[[component]]
name = "base"
points = 2

[[component]]
name = "dr"
fact = "mismatch_dr"
values = { 0 = 4, 1 = 1 }
"""


def test_policy_files_in_toml_and_json(tmp_path: Path) -> None:
    toml_path = tmp_path / "p.toml"
    toml_path.write_text(POLICY)
    policy = scoring_policy(str(toml_path))
    parts = policy.score(facts(mismatch_dr=[0, 1, 2]))
    assert (sum(parts.values()) == np.array([6.0, 3.0, 2.0])).all()
    json_path = tmp_path / "p.json"
    json_path.write_text(
        json.dumps({"name": "j", "component": [{"name": "c", "fact": "cpra", "per_unit": 10}]})
    )
    assert ScoringPolicy.read(json_path).score(facts(cpra=[0.5]))["c"].tolist() == [5.0]


@pytest.mark.parametrize(
    ("component", "message"),
    [
        ({"name": "x", "fact": "height", "per_unit": 1}, "unknown fact 'height'"),
        ({"name": "x", "points": -1}, "points must be >= 0"),
        ({"name": "x", "fact": "cpra", "bands": [[0, 0.5, 1], [0.4, 1, 2]]}, "bands overlap"),
        ({"name": "x", "fact": "cpra", "bands": [[0.5, 0.5, 1]]}, "is empty"),
        ({"name": "x", "points": 1, "per_unit": 2, "fact": "cpra"}, "exactly one of"),
        ({"name": "x", "fact": "cpra"}, "exactly one of"),
        ({"name": "x", "points": 1, "colour": "red"}, "unknown key 'colour'"),
        ({"points": 1}, "needs a 'name'"),
        ({"name": "x", "fact": "mismatch_level", "values": [[1, 10]], "max": 3}, "max caps"),
    ],
)
def test_bad_components_are_named(component: dict[str, object], message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        ScoringPolicy.from_mapping({"name": "bad", "component": [component]})


def test_unknown_shipped_policy() -> None:
    with pytest.raises(PolicyError, match="unknown scoring policy 'nhs'"):
        scoring_policy("nhs")


def test_the_highest_band_takes_its_upper_end() -> None:
    policy = ScoringPolicy.from_mapping(
        {
            "name": "b",
            "component": [
                {"name": "s", "fact": "cpra", "bands": [[0.0, 0.95, 0], [0.95, 1.0, 10]]}
            ],
        }
    )
    got = policy.score(facts(cpra=[0.5, 0.95, 0.999, 1.0, 1.2, NAN]))["s"].tolist()
    assert got == [0.0, 10.0, 10.0, 10.0, 0.0, 0.0]


def test_a_policy_has_a_fingerprint_of_its_whole_table() -> None:
    uk = scoring_policy("uk")
    assert uk.digest() == scoring_policy("uk").digest()
    assert uk.digest() != scoring_policy("transplants").digest()
    same_name = ScoringPolicy("uk", uk.description, uk.components[:1])
    assert same_name.digest() != uk.digest()


def test_every_bad_component_of_a_table_is_reported_at_once() -> None:
    doc = {
        "component": [
            {"name": "ok", "points": 1},
            {"name": "a", "fact": "height", "per_unit": 1},
            {"name": "b", "points": -2},
        ]
    }
    with pytest.raises(PolicyError) as caught:
        ScoringPolicy.from_mapping(doc, source="mine.toml")
    assert caught.value.problems == (
        "mine.toml: a scoring policy needs a 'name'",
        "mine.toml: component 'a': unknown fact 'height' (known: " + ", ".join(sorted(FACTS)) + ")",
        "mine.toml: component 'b': points must be >= 0 (scores are never negative)",
    )
    assert str(caught.value).endswith("needs a 'name' (and 2 more problems)")
