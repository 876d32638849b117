"""The migrations build exactly the schema the models describe."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from possible.registry.db import Database
from possible.registry.models import Base


def test_the_migrated_database_matches_the_models(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'registry.db'}")
    db.migrate()
    with db.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    db.dispose()
    assert differences == []


def test_migrating_twice_changes_nothing(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'registry.db'}")
    db.migrate()
    db.migrate()  # a restart applies no migration twice
    with db.engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == "0002"
    db.dispose()
