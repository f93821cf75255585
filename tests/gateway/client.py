"""A small HTTP client for the gateway under test, in the language of the API."""
from __future__ import annotations

from typing import Any

import requests


class GatewayClient:
    def __init__(self, base_url: str, api_key: str | None = None) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        if api_key:
            self.session.headers["Authorization"] = f"Bearer {api_key}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.get(self.url(path), timeout=kwargs.pop("timeout", 30), **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.post(self.url(path), timeout=kwargs.pop("timeout", 30), **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.delete(self.url(path), timeout=kwargs.pop("timeout", 30), **kwargs)

    def post_generation(self, body: dict[str, Any] | None = None, **headers: str) -> requests.Response:
        return self.post("/v1/generations", json=body or {"prompt": "A vegetarian lasagne"}, headers=headers)

    def subscribe(self, url: str, event_types: list[str] | None = None) -> dict[str, Any]:
        response = self.post("/v1/subscriptions", json={"url": url, "event_types": event_types or ["recipe.*"]})
        assert response.status_code == 201, response.text
        return response.json()

    def is_up(self) -> bool:
        try:
            return self.get("/healthz", timeout=3).status_code == 200
        except requests.RequestException:  # not listening yet, or still booting
            return False

    def close(self) -> None:
        self.session.close()


def assert_problem(response: requests.Response, status: int) -> dict[str, Any]:
    """The response is RFC 9457 problem details with this status."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == status
    assert {"type", "title", "detail", "instance"} <= set(problem)
    return problem
