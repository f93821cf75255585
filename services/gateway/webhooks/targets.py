"""Webhook targets (SSRF, docs/security.md): one parse for checking and connecting, addresses pinned.

A URL is parsed once into a ``Target``; the check and the connection both use that structure and
the addresses resolved for it, never the raw string again, so no second parser (the HTTP client's)
and no second DNS answer (rebinding) can send a request somewhere the check did not see.
"""
from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass
from typing import Callable, Sequence
from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}
ALLOWED_PORTS = frozenset({80, 443})  # unless private targets are allowed (development, tests)
# Visible ASCII only: no spaces, controls, backslashes or non-ASCII, which parsers disagree on.
_SAFE_URL = re.compile(r"[\x21-\x5b\x5d-\x7e]+")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")

Resolver = Callable[[str, int], Sequence[str]]


class RefusedTarget(ValueError):
    pass


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # lower-case DNS name or IP literal (no brackets)
    port: int
    path: str  # path and query, as sent on the request line

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"


def parse_target(url: str) -> Target:
    """The one parse of a webhook URL; RefusedTarget for anything two parsers could read differently."""
    if not _SAFE_URL.fullmatch(url):
        raise RefusedTarget("url may hold only visible ASCII characters, and no backslash (percent-encode the rest)")
    try:
        parts = urlsplit(url)
    except ValueError:  # an unclosed or invalid IPv6 bracket
        raise RefusedTarget("url is not a valid URL") from None
    if parts.scheme not in DEFAULT_PORTS or not parts.netloc:
        raise RefusedTarget("url must be an absolute http or https URL")
    if "@" in parts.netloc:
        raise RefusedTarget("url must not hold credentials (user:password@)")
    if not parts.hostname:
        raise RefusedTarget("url has no host")
    try:
        port = parts.port or DEFAULT_PORTS[parts.scheme]
    except ValueError:
        raise RefusedTarget("url has an invalid port") from None
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return Target(parts.scheme, parts.hostname.lower(), port, path)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def public(address: str) -> bool:
    """Whether ``address`` (and any IPv4 address embedded in an IPv6 one) is a public unicast address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if not ip.is_global or ip.is_multicast:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None and (not inner.is_global or inner.is_multicast):
            return False
    return True


def system_resolver(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        raise RefusedTarget(f"host {host!r} does not resolve") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def resolve_target(target: Target, *, allow_private: bool, ports: frozenset[int] = ALLOWED_PORTS,
                   resolver: Resolver = system_resolver) -> list[str]:
    """The addresses to connect to, resolved once; RefusedTarget unless every one may be reached."""
    if not allow_private and target.port not in ports:
        raise RefusedTarget(f"port {target.port} is not allowed (allowed: {', '.join(map(str, sorted(ports)))})")
    addresses = list(resolver(target.host, target.port))
    if not addresses:
        raise RefusedTarget(f"host {target.host!r} does not resolve")
    if not allow_private:
        for address in addresses:
            if not public(address):
                raise RefusedTarget(f"host {target.host!r} resolves to a non-public address ({address})")
    return addresses


def check_target(url: str, *, allow_private: bool, ports: frozenset[int] = ALLOWED_PORTS,
                 resolver: Resolver = system_resolver, allow_http: bool = True) -> tuple[Target, list[str]]:
    """Parse and resolve ``url`` once: the target and the checked addresses to connect to.

    ``allow_http=False`` (production, WEBHOOK_ALLOW_HTTP unset) refuses plain http: an event and its
    signature would cross the network readable and alterable by anyone on the path."""
    target = parse_target(url)
    if target.scheme != "https" and not allow_http:
        raise RefusedTarget("url must be https (plain http is allowed only with WEBHOOK_ALLOW_HTTP=true)")
    return target, resolve_target(target, allow_private=allow_private, ports=ports, resolver=resolver)
