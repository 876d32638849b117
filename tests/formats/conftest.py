from __future__ import annotations

from pathlib import Path

import pytest

GOLDEN = Path(__file__).parent / "golden"


@pytest.fixture
def golden() -> Path:
    """The directory of small hand-written files in every supported format."""
    return GOLDEN
