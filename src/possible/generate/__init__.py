"""Synthetic pools for tests, benchmarks and simulation, from published generators."""

from __future__ import annotations

from possible.generate.saidman import saidman_pool

__all__ = ["saidman_pool"]
