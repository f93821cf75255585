"""A person watching a generation live sees the recipe in the model's order: the stored recipe's order."""
import pytest
import requests

from services.cli.client import GatewayClient
from services.common.schemas import TOOLCALL_ADD_INGREDIENT, TOOLCALL_ADD_STEP
from tests.support.system import System


@pytest.fixture(params=["assistants", "responses"])
def backend_system(request, service_env, start_service) -> System:
    """The whole system, the runner on one backend (``make run``'s default is responses), every model
    stream cut: the runner learns of a turn's calls all at once, so the whole batch shares a millisecond
    (as after a runner restart), where a streamed turn's calls are published one by one, ms apart."""
    return System(env={**service_env, "MODEL_BACKEND": request.param}, start_service=start_service,
                  emulator_args=("--faults", "stream_cut=1")).start_all()


def test_the_seed_s_ingredients_and_steps_stream_in_the_order_the_recipe_stores_them(backend_system):
    from services.cli.__main__ import SEED_INSTRUCTIONS, SEED_PROMPT

    system = backend_system
    client = GatewayClient(system.gateway_url)
    generation_id = client.submit(SEED_PROMPT, SEED_INSTRUCTIONS)["id"]
    events = list(client.events(generation_id))  # runner -> store -> generation_events -> SSE, live
    assert events[-1]["type"] == "generation.completed"
    live_ingredients = [e["data"]["arguments"]["ingredient"] for e in events if e["type"] == TOOLCALL_ADD_INGREDIENT]
    live_steps = [e["data"]["arguments"]["step_number"] for e in events if e["type"] == TOOLCALL_ADD_STEP]

    (ref,) = client.generation(generation_id)["recipes"]
    recipe = requests.get(f"{system.gateway_url}{ref['href']}", timeout=10).json()
    assert len(live_ingredients) == 19 and len(live_steps) == 9
    assert live_ingredients == [i["ingredient"] for i in recipe["ingredients"]]
    assert live_steps == [s["step_number"] for s in recipe["steps"]] == list(range(1, 10))
