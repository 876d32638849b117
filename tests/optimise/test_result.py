from __future__ import annotations

import json
import math

import pytest

from oracles import pool_of
from possible.optimise import (
    Exchange,
    Level,
    MatchingResult,
    Status,
    Transplant,
    Unmatched,
    UnmatchedReason,
    solve,
)

KEYS = {
    "status",
    "objective",
    "bound",
    "levels",
    "transplants",
    "exchanges",
    "ndds_to_waiting_list",
    "unmatched",
    "solver",
    "policy",
    "input_digest",
}


def hand_made(*, value: float = 5.0, bound: float = 5.0) -> MatchingResult:
    return MatchingResult(
        status=Status.FEASIBLE,
        levels=(
            Level("transplants", "Most transplants inside the pool", "max", value, bound),
            Level("score", "Highest total score", "max", math.nan, math.inf),
        ),
        exchanges=(
            Exchange(
                "chain", (Transplant("n1", "p1", 0.1 + 0.2), Transplant("d1", "p2", 2.0)), "d2"
            ),
            Exchange("cycle", (Transplant("d3", "p4", 1.0), Transplant("d4", "p3", 1.0000000001))),
        ),
        unmatched=(
            Unmatched("p5", UnmatchedReason.OUTCOMPETED),
            Unmatched("p6", UnmatchedReason.NO_PAIRED_DONOR),
        ),
        ndds_to_waiting_list=("n2",),
        solver={"name": "highs", "version": "1.16.0"},
        policy={"max_cycle": 3, "max_chain": 2, "objective": "transplants", "time_limit": None},
        input_digest="abc",
        timings={"graph": 0.0012345678, "solve": 1.5},
    )


def test_to_dict_has_every_key_and_json_needs_no_nan() -> None:
    doc = hand_made().to_dict()
    assert set(doc) == KEYS | {"timings"}
    json.dumps(doc, allow_nan=False)
    assert set(hand_made().to_dict(timings=False)) == KEYS


def test_to_dict_by_field() -> None:
    doc = hand_made().to_dict()
    assert doc["status"] == "feasible"
    # NaN and infinity have no JSON form: null.
    assert doc["objective"] == [5.0, None]
    assert doc["bound"] == [5.0, None]
    assert doc["levels"][1] == {
        "name": "score",
        "description": "Highest total score",
        "sense": "max",
        "value": None,
        "bound": None,
        "gap": None,
    }
    assert doc["levels"][0]["gap"] == 0.0
    assert doc["transplants"] == 4
    chain, cycle = doc["exchanges"]
    assert chain == {
        "kind": "chain",
        "length": 2,
        # 0.1 + 0.2 is written without its floating-point noise.
        "transplants": [
            {"donor": "n1", "patient": "p1", "score": 0.3},
            {"donor": "d1", "patient": "p2", "score": 2.0},
        ],
        "to_waiting_list": "d2",
    }
    assert cycle["kind"] == "cycle"
    assert "to_waiting_list" not in cycle
    assert cycle["transplants"][1]["score"] == 1.0
    assert doc["ndds_to_waiting_list"] == ["n2"]
    assert doc["unmatched"] == [
        {"patient": "p5", "reason": "outcompeted"},
        {"patient": "p6", "reason": "no_paired_donor"},
    ]
    assert doc["solver"] == {"name": "highs", "version": "1.16.0"}
    assert doc["policy"]["max_chain"] == 2
    assert doc["input_digest"] == "abc"
    assert doc["timings"] == {"graph": 0.001235, "solve": 1.5}


def test_to_dict_is_a_copy() -> None:
    result = hand_made()
    doc = result.to_dict()
    doc["solver"]["name"] = "changed"
    doc["policy"]["max_cycle"] = 99
    assert result.solver["name"] == "highs"
    assert result.policy["max_cycle"] == 3


def test_properties() -> None:
    result = hand_made(value=4.0, bound=5.0)
    assert result.objective[0] == 4.0
    assert math.isnan(result.objective[1])
    assert result.bound == (5.0, math.inf)
    assert result.transplants == 4
    assert [e.length for e in result.exchanges] == [2, 2]
    assert result.levels[0].gap == pytest.approx(0.25)
    assert math.isnan(result.levels[1].gap)


def test_gap_is_zero_at_the_optimum_and_defined_at_zero() -> None:
    assert Level("t", "d", "max", 7.0, 7.0).gap == 0.0
    assert Level("t", "d", "max", 0.0, 0.0).gap == 0.0
    assert Level("t", "d", "max", 0.0, 1.0).gap > 0


def test_a_solved_result_serialises() -> None:
    pool = pool_of(
        {"n": None, "da": "a", "db": "b", "dc": "c"},
        [("da", "b", 1.0), ("db", "a", 2.0), ("n", "c", 0.5)],
        lone=["z"],
    )
    result = solve(pool, max_cycle=2, max_chain=1, objective="score")
    doc = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert set(doc) == KEYS | {"timings"}
    assert doc["status"] == "optimal"
    assert doc["objective"] == doc["bound"] == [3.5]
    assert [(e["kind"], e["length"]) for e in doc["exchanges"]] == [("chain", 1), ("cycle", 2)]
    assert doc["exchanges"][0]["to_waiting_list"] == "dc"
    assert doc["unmatched"] == [{"patient": "z", "reason": "no_paired_donor"}]
    assert doc["solver"]["name"] == "highs"
    assert doc["policy"] == {
        "max_cycle": 2,
        "max_chain": 1,
        "objective": "score",
        "time_limit": None,
    }
    assert doc["input_digest"] == pool.digest()
    assert {"graph", "enumerate", "model", "solve"} <= set(doc["timings"])
    assert all(isinstance(v, float) for v in doc["timings"].values())


def test_a_level_worth_zero_shows_its_absolute_gap() -> None:
    from possible.optimise.result import Level

    assert Level("x", "x", "max", 0.0, 3.0).gap == 3.0
    assert Level("x", "x", "max", 10.0, 12.0).gap == pytest.approx(0.2)
    assert math.isnan(Level("x", "x", "max", math.nan, 12.0).gap)
