"""The REST service over the registry (FastAPI): ``create_app(settings)``.

Needs the ``service`` extra (FastAPI, SQLAlchemy, Alembic, uvicorn, argon2, PyJWT).
"""
