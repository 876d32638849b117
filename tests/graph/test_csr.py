from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from oracles import SETTINGS
from possible.graph.csr import ranges


def test_ranges_concatenates_each_range_in_order() -> None:
    assert ranges([10, 0, 5], [2, 0, 3]).tolist() == [10, 11, 5, 6, 7]
    assert ranges([], []).tolist() == []


@SETTINGS
@given(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 5)), max_size=20))
def test_ranges_equals_a_python_loop(spans: list[tuple[int, int]]) -> None:
    starts = np.array([s for s, _ in spans], dtype=np.int64)
    counts = np.array([c for _, c in spans], dtype=np.int64)
    expected = [s + k for s, c in spans for k in range(c)]
    assert ranges(starts, counts).tolist() == expected
