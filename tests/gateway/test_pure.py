"""The gateway's pure functions: signatures, cursors, target checks, traceparent, validation."""
from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from services.common.config import ConfigError, load_settings
from services.gateway.cursor import decode_cursor, encode_cursor
from services.gateway.problems import ApiProblem
from services.gateway.webhooks.signing import new_secret, webhook_headers
from services.gateway.webhooks.targets import RefusedTarget, check_target
from services.gateway.tracing import continue_trace
from services.gateway.validation import keywords, recipe_query


def test_our_signature_verifies_with_the_standard_webhooks_library():
    secret, body = new_secret(), b'{"type":"recipe.created"}'
    headers = webhook_headers(secret, "evt-1", int(time.time()), body)
    assert Webhook(secret).verify(body, headers) == {"type": "recipe.created"}
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body + b" ", headers)


def test_a_cursor_round_trips_and_a_forged_one_is_a_400():
    created = datetime(2026, 1, 1, 12, 0, 0, 123000, tzinfo=timezone.utc)
    assert decode_cursor(encode_cursor(created, "soup-1")) == (created, "soup-1")
    with pytest.raises(ApiProblem) as problem:
        decode_cursor("eyJub3QiOiAiYSBjdXJzb3IifQ")
    assert problem.value.status == 400


@pytest.mark.parametrize("url", ["http://127.0.0.1/", "http://10.0.0.8/", "http://192.168.1.1/",
                                 "http://169.254.169.254/", "http://[::1]/", "http://[fe80::1]/",
                                 "http://0.0.0.0/", "ftp://example.com/"])
def test_non_public_targets_are_refused(url):
    with pytest.raises(RefusedTarget):
        check_target(url, allow_private=False)


def test_private_targets_are_allowed_when_configured():
    check_target("http://127.0.0.1:9000/hooks", allow_private=True)


def test_a_valid_traceparent_is_continued_and_an_invalid_one_replaced():
    caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    continued = continue_trace(caller)
    assert continued.split("-")[1] == caller.split("-")[1] and continued != caller
    fresh = continue_trace("00-00000000000000000000000000000000-00f067aa0ba902b7-01")
    assert fresh.split("-")[1] != "0" * 32 and len(fresh) == 55


def test_query_words_are_normalised_like_the_keywords_field():
    assert keywords("Vegetarian  LASAGNE, quick!") == ["vegetarian", "lasagne", "quick"]


def test_recipe_queries_accept_only_known_bounded_parameters():
    assert recipe_query({"ingredient": " leek ", "limit": "5"}) == {"ingredient": "leek", "limit": 5}
    for bad in ({"limit": "-1"}, {"limit": "1e3"}, {"ingredient": "x" * 101}, {"sort": "name"}):
        with pytest.raises(ApiProblem):
            recipe_query(bad)


def test_event_streams_default_to_half_the_connections_and_may_not_take_them_all():
    assert load_settings({}).gateway_sse_max_streams == 50
    assert load_settings({"GATEWAY_CONNECTIONS": "8"}).gateway_sse_max_streams == 4
    assert load_settings({"GATEWAY_CONNECTIONS": "1"}).gateway_sse_max_streams == 1
    assert load_settings({"GATEWAY_CONNECTIONS": "8", "GATEWAY_SSE_MAX_STREAMS": "6"}).gateway_sse_max_streams == 6
    with pytest.raises(ConfigError, match="GATEWAY_SSE_MAX_STREAMS"):
        load_settings({"GATEWAY_CONNECTIONS": "4", "GATEWAY_SSE_MAX_STREAMS": "5"})


def test_the_retired_threads_setting_is_a_configuration_error_that_names_its_replacement():
    with pytest.raises(ConfigError, match="GATEWAY_CONNECTIONS"):
        load_settings({"GATEWAY_THREADS": "8"})
