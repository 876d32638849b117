"""A real service app on a fresh database, and a client signed in as the demo users."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from possible.service.app import create_app
from possible.service.demo import DEMO_PASSWORD, seed_demo
from possible.service.settings import Settings

SECRET = "test-secret-" + "x" * 40


class Api:
    """A test client that signs in as the demo users."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.tokens: dict[str, str] = {}

    @property
    def app(self) -> Any:
        return self.client.app

    def token(self, user: str) -> str:
        if user not in self.tokens:
            r = self.client.post(
                "/api/v1/auth/token", data={"username": user, "password": DEMO_PASSWORD}
            )
            assert r.status_code == 200, r.text
            self.tokens[user] = r.json()["access_token"]
        return self.tokens[user]

    def call(self, method: str, user: str | None, path: str, **kw: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.token(user)}"} if user else {}
        return self.client.request(method, "/api/v1" + path, headers=headers, **kw)

    def get(self, user: str | None, path: str, **kw: Any) -> Any:
        return self.call("GET", user, path, **kw)

    def post(self, user: str | None, path: str, **kw: Any) -> Any:
        return self.call("POST", user, path, **kw)

    def patch(self, user: str | None, path: str, **kw: Any) -> Any:
        return self.call("PATCH", user, path, **kw)

    def wait(self) -> None:
        self.app.state.worker.wait()


def make_app(url: str, *, patients: int = 40) -> Any:
    app = create_app(Settings(database_url=url, secret_key=SECRET))
    seed_demo(app.state.db, patients=patients, seed=7)
    return app
