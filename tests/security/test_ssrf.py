"""Webhook targets (issue 14, SSRF): one parse, one resolution, the checked address is the one connected to."""
from __future__ import annotations

import pytest

from services.gateway.webhooks.targets import RefusedTarget, check_target, parse_target, public
from tests.gateway.client import assert_problem
from tests.gateway.conftest import deliverer, gateway, gateway_env, launch_gateway, publish  # noqa: F401
from tests.gateway.test_webhooks import recipe_events
from tests.support.waiting import wait_for
from tests.support.webhooks import WebhookReceiver

PUBLIC = "93.184.216.34"  # never connected to: every test below refuses before any connection


def _resolver(answers: dict[str, list[str]], calls: list[str]):
    def resolve(host: str, port: int) -> list[str]:
        calls.append(host)
        return answers[host]
    return resolve


@pytest.mark.parametrize("url", [
    "http://a:b@127.0.0.1:8080\\@93.184.216.34/../x",  # the issue's URL: two parsers, two hosts
    "http://user@example.com/",
    "http://example.com\\@evil/",
    "http://exa mple.com/",
    "http://example.com/\u00e9",
    "http://example.com/\ud800",
    "ftp://example.com/",
    "http://:80/",
])
def test_ambiguous_or_credentialed_urls_are_refused_before_any_lookup(url):
    with pytest.raises(RefusedTarget):
        check_target(url, allow_private=True, resolver=_resolver({}, []))


@pytest.mark.parametrize("address", [
    "::127.0.0.1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "64:ff9b::a00:1", "64:ff9b::7f00:1",
    "2002:7f00:1::", "2002:a00:1::", "::1", "fe80::1", "fc00::1", "169.254.169.254", "10.1.2.3", "0.0.0.0",
])
def test_private_addresses_and_ipv6_forms_embedding_them_are_not_public(address):
    assert not public(address)


def test_public_addresses_are_public():
    assert public(PUBLIC) and public("2606:2800:220:1:248:1893:25c8:1946") and public("64:ff9b::5db8:d822")


def test_a_bracketed_ipv6_literal_embedding_loopback_is_refused():
    with pytest.raises(RefusedTarget, match="non-public"):
        check_target("http://[::127.0.0.1]/x", allow_private=False, resolver=lambda host, port: [host])


def test_only_ports_80_and_443_unless_allowed():
    resolve = _resolver({"example.com": [PUBLIC]}, [])
    with pytest.raises(RefusedTarget, match="port 8080"):
        check_target("http://example.com:8080/", allow_private=False, resolver=resolve)
    assert check_target("https://example.com/", allow_private=False, resolver=resolve)[0].port == 443
    assert check_target("http://example.com:8080/", allow_private=False, ports=frozenset({8080}),
                        resolver=resolve)[0].port == 8080


def test_dns_is_asked_once_and_every_answer_must_be_public():
    calls: list[str] = []
    resolve = _resolver({"rebind.example": [PUBLIC, "127.0.0.1"]}, calls)
    with pytest.raises(RefusedTarget, match="127.0.0.1"):
        check_target("http://rebind.example/", allow_private=False, resolver=resolve)
    target, addresses = check_target("http://rebind.example/", allow_private=True, resolver=resolve)
    assert calls == ["rebind.example", "rebind.example"]  # one lookup per check; the connection uses `addresses`
    assert (target.host_header, target.path, addresses) == ("rebind.example", "/", [PUBLIC, "127.0.0.1"])


def test_the_path_and_query_are_kept_and_the_host_header_names_the_port():
    target = parse_target("http://Example.com:8080/a/b?c=d")
    assert (target.host, target.port, target.path, target.host_header) == (
        "example.com", 8080, "/a/b?c=d", "example.com:8080")


def test_the_issues_attack_url_is_refused_by_the_running_gateway(launch_gateway):
    gateway = launch_gateway(WEBHOOK_ALLOW_PRIVATE_TARGETS="false")
    with WebhookReceiver() as local:
        port = local.url.split(":")[2].split("/")[0]
        url = f"http://a:b@127.0.0.1:{port}\\@{PUBLIC}/../x"
        problem = assert_problem(gateway.post("/v1/subscriptions", json={"url": url, "event_types": ["recipe.*"]}),
                                 400)
        assert "refused" in problem["detail"] or "url" in problem["detail"]
        assert local.attempts == 0


def test_a_delivery_goes_to_the_checked_address_with_the_targets_host_header(gateway, deliverer, publish):
    with WebhookReceiver() as receiver:
        port = receiver.url.split(":")[2].split("/")[0]
        gateway.subscribe(f"http://localhost:{port}/hooks?tenant=a", ["recipe.*"])
        publish(recipe_events())
        wait_for(lambda: receiver.count() == 4, timeout=30, message="four deliveries")
        headers, _ = receiver.deliveries[0]
        assert {k.lower(): v for k, v in headers.items()}["host"] == f"localhost:{port}"
