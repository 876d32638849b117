"""Passwords (argon2), short-lived signed tokens, and a limit on failed sign-ins."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import defaultdict, deque

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = ["LoginLimiter", "hash_password", "issue_token", "read_token", "verify_password"]

_hasher = PasswordHasher()
ALGORITHM = "HS256"


def hash_password(password: str) -> str:
    """Return the argon2 hash of a password."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether `password` matches `password_hash`."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def issue_token(user_id: int, secret: str, minutes: int) -> str:
    """Sign an access token for a user, valid for `minutes`."""
    now = dt.datetime.now(dt.UTC)
    claims = {"sub": str(user_id), "iat": now, "exp": now + dt.timedelta(minutes=minutes)}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def read_token(token: str, secret: str) -> int | None:
    """Return the user id of a valid token, or ``None`` (expired, forged or malformed)."""
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM])
        return int(claims["sub"])
    except (jwt.PyJWTError, KeyError, ValueError):
        return None


class LoginLimiter:
    """Count failed sign-ins per key (user name and address) in a sliding window."""

    def __init__(self, attempts: int, window_seconds: float) -> None:
        self.attempts = attempts
        self.window = window_seconds
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def blocked(self, key: str) -> bool:
        """Whether `key` has used up its failed attempts."""
        with self._lock:
            recent = self._trim(key)
            return len(recent) >= self.attempts

    def failed(self, key: str) -> None:
        """Record a failed attempt."""
        with self._lock:
            self._trim(key).append(time.monotonic())

    def succeeded(self, key: str) -> None:
        """Forget the failures of `key`."""
        with self._lock:
            self._failures.pop(key, None)

    def _trim(self, key: str) -> deque[float]:
        recent = self._failures[key]
        cutoff = time.monotonic() - self.window
        while recent and recent[0] < cutoff:
            recent.popleft()
        return recent
