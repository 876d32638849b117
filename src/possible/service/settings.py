"""Service settings, from the environment (``POSSIBLE_*``) or a ``.env`` file."""

from __future__ import annotations

from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["DEFAULT_SECRET", "Settings"]

DEFAULT_SECRET = "development-only-secret-change-me"
"""The signing secret used when none is configured; refused in production."""


class Settings(BaseSettings):
    """How the service runs.

    Attributes
    ----------
    database_url
        SQLAlchemy URL; an SQLite file by default.
    secret_key
        Signs access tokens. Production refuses the default.
    environment
        ``development`` or ``production``.
    token_minutes
        Lifetime of an access token.
    login_attempts
        Failed sign-ins allowed per user name and address within `login_window_seconds`.
    """

    model_config = SettingsConfigDict(env_prefix="POSSIBLE_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///possible.db"
    secret_key: str = DEFAULT_SECRET
    environment: Literal["development", "production"] = "development"
    token_minutes: int = 30
    login_attempts: int = 5
    login_window_seconds: int = 300

    def check(self) -> None:
        """Refuse settings unfit for production.

        Raises
        ------
        RuntimeError
            In production with the default or a short secret.
        """
        if self.environment == "production" and (
            self.secret_key == DEFAULT_SECRET or len(self.secret_key) < 32
        ):
            raise RuntimeError(
                "refusing to start in production with the default or a short secret: "
                "set POSSIBLE_SECRET_KEY to at least 32 random characters"
            )
