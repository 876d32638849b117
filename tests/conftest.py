"""Shared test configuration.

Being the conftest at the top of ``tests/`` (which is not a package), this file also puts
``tests/`` on ``sys.path``, so test modules anywhere below can ``import oracles``.
"""
