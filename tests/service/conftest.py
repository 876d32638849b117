"""A real app on a fresh database per test: SQLite by default, PostgreSQL when
``POSSIBLE_TEST_POSTGRES_URL`` is set (CI sets it)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from registry_app import Api, make_app


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    url = os.environ.get("POSSIBLE_TEST_POSTGRES_URL")
    if not url:
        return f"sqlite:///{tmp_path / 'registry.db'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return url


@pytest.fixture
def api(database_url: str) -> Iterator[Api]:
    with TestClient(make_app(database_url)) as client:
        yield Api(client)
