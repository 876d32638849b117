from __future__ import annotations

import json

from oracles import pool_of
from possible.optimise import solve
from possible.optimise.report import result_json, result_summary, write_result_json

# A two-way cycle (d1 <-> d2), a chain n -> p3 whose donor d3 goes to the waiting list, and
# p4, whom no donor can give to.
POOL = pool_of(
    {"d1": "p1", "d2": "p2", "d3": "p3", "d4": "p4", "n": None},
    [("d1", "p2", 1.0), ("d2", "p1", 2.0), ("n", "p3", 1.5)],
)


def test_summary_names_every_exchange_and_why_patients_are_unmatched() -> None:
    text = result_summary(solve(POOL, max_cycle=2, max_chain=1))
    assert text.startswith("Matching run: optimal (max cycle 2, max chain 1, objective ")
    assert "3 transplants in 1 cycle and 1 chain" in text
    assert "chain of 1: n -> p3 (1.5); d3 -> waiting list" in text
    assert "cycle of 2: d1 -> p2 (1); d2 -> p1 (2)" in text
    assert "1 patient unmatched:" in text
    assert "no compatible donor" in text


def test_json_leaves_out_timings_on_request_and_is_stable(tmp_path: object) -> None:
    result = solve(POOL, max_cycle=2, max_chain=1)
    text = result_json(result, timings=False)
    doc = json.loads(text)
    assert "timings" not in doc
    assert text == result_json(solve(POOL, max_cycle=2, max_chain=1), timings=False)
    assert list(doc) == sorted(doc)


def test_write_result_json_writes_the_document(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "result.json"
    result = solve(POOL, max_cycle=2, max_chain=1)
    write_result_json(result, path, timings=False)
    assert path.read_text() == result_json(result, timings=False)
