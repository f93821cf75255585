"""Background responses woken by OpenAI webhooks: emulator -> signed POST -> gateway -> broker -> runner.

The emulator sends its signed webhooks to the gateway's /v1/openai/webhooks
with the gateway's OPENAI_WEBHOOK_SECRET; the runner (MODEL_BACKEND=responses,
RUNNER_RESPONSES_BACKGROUND=true, a 60 s safety-net poll) retrieves each
response once, after its webhook, instead of polling it.
"""
from __future__ import annotations

import json
import time

import requests

from tests.runner.helpers import SEED_INSTRUCTIONS, SEED_PROMPT
from tests.support.broker import bind_outside_queue, get_all
from tests.support.recipes import check_recipe
from tests.support.system import System
from tests.support.waiting import wait_for

SECRET = "whsec_" + "ZTJlLXdlYmhvb2stc2VjcmV0LTEyMzQ1Njc4OTA="
RETRIEVE = "GET /v1/responses/<response_id>"
CREATE = "POST /v1/responses"


def _generate(system: System, mongo_db, rabbitmq_url: str) -> list[tuple[str, str]]:
    """One seed generation through the gateway; its recipe events as (type, data without ids)."""
    answer = requests.post(f"{system.gateway_url}/v1/generations", timeout=30,
                           json={"prompt": SEED_PROMPT, "instructions": SEED_INSTRUCTIONS})
    assert answer.status_code == 202, answer.text
    gid = answer.json()["id"]
    wait_for(lambda: (mongo_db.generations.find_one({"_id": gid}) or {}).get("status") == "completed",
             timeout=90, interval=0.2, message="the generation to complete")
    recipe = mongo_db.recipes.find_one({"generation_id": gid})
    assert check_recipe(recipe, SEED_PROMPT).exact
    expected = 2 + len(recipe["ingredients"]) + len(recipe["steps"])
    seen: dict[str, dict] = {}
    wait_for(lambda: seen.update({p.message_id: json.loads(b) for p, b in get_all(rabbitmq_url, "outside.recipes")})
             or len(seen) >= expected, timeout=60, message="the recipe events")
    assert len(seen) == expected
    return sorted((e["type"], json.dumps({k: v for k, v in e["data"].items()
                                          if k not in ("generation_id", "recipe_id")}, sort_keys=True))
                  for e in seen.values())


def test_a_background_response_chain_finished_by_signed_webhooks_is_never_polled(
        service_env, start_service, mongo_db, rabbitmq_url):
    system = System(env={**service_env, "OPENAI_WEBHOOK_SECRET": SECRET}, start_service=start_service)
    system.emulator_args = ("--think-ms", "1500", "--webhook-url", f"{system.gateway_url}/v1/openai/webhooks",
                            "--webhook-secret", SECRET)
    system.start_all()
    bind_outside_queue(rabbitmq_url, "outside.recipes", "recipe.#")
    via_assistants = _generate(system, mongo_db, rabbitmq_url)

    system.processes["runner"].kill()
    system.env.update(MODEL_BACKEND="responses", RUNNER_RESPONSES_BACKGROUND="true",
                      RUNNER_SAFETY_POLL_SECONDS="60")
    system.start("runner-background")
    requests.post(f"{system.emulator_url}/_emulator/stats/reset", timeout=5).raise_for_status()
    started = time.monotonic()
    via_webhooks = _generate(system, mongo_db, rabbitmq_url)
    elapsed = time.monotonic() - started

    assert via_webhooks == via_assistants  # the same recipe events from either backend
    stats = requests.get(f"{system.emulator_url}/_emulator/stats", timeout=5).json()
    turns = stats["requests"][CREATE]
    assert turns == 4 and stats["webhooks"] == {"delivered": turns}
    # Each 1.5 s turn is read exactly once, after its webhook: polling would have read it many times,
    # and the 60 s safety net never fired (the chain took far less).
    assert stats["requests"][RETRIEVE] == turns
    assert elapsed < 60
