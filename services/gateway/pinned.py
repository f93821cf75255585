"""An HTTP POST to a checked webhook target at the address that was checked (services/gateway/targets.py).

The request goes to the pinned IP; the ``Host`` header, and for https the TLS server name and the
certificate check, use the target's host name, so the receiver sees an ordinary request for its
name while no DNS lookup happens after the check.
"""
from __future__ import annotations

from typing import Any, Mapping

import requests
from requests.adapters import HTTPAdapter

from services.gateway.targets import Target


class _PinnedTls(HTTPAdapter):
    """Connects to an IP while TLS uses (SNI) and verifies the target's host name."""

    def __init__(self, host_name: str) -> None:
        self._host_name = host_name
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["server_hostname"] = self._host_name
        kwargs["assert_hostname"] = self._host_name
        super().init_poolmanager(*args, **kwargs)


def post_pinned(target: Target, address: str, body: bytes, headers: Mapping[str, str], *,
                timeout: float) -> requests.Response:
    """POST ``body`` to ``target`` at ``address``; redirects are never followed."""
    literal = f"[{address}]" if ":" in address else address
    url = f"{target.scheme}://{literal}:{target.port}{target.path}"
    with requests.Session() as session:
        session.trust_env = False  # no proxy from the environment: the pinned address is the peer
        if target.scheme == "https":
            session.mount("https://", _PinnedTls(target.host))
        return session.post(url, data=body, headers={**headers, "Host": target.host_header},
                            timeout=timeout, allow_redirects=False)
