"""The registry: patients, donors, centres, users, matching runs and exchanges in a database.

SQLAlchemy 2 models (:mod:`.models`), Alembic migrations applied on open (:mod:`.db`), the
legal lives of people and exchanges (:mod:`.lifecycle`) and matching runs over the registry
(:mod:`.runs`). SQLite is the embedded default; PostgreSQL is used through its URL.
"""
