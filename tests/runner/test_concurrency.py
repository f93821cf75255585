"""One runner process drives many generations at once (a liveness bound, not a speed assertion)."""
from services.common import schemas
from tests.runner.helpers import SEED_PROMPT, distinct


def test_a_hundred_concurrent_generations_all_complete_with_one_assistant(start_emulator, start_runner, pipeline):
    emulator = start_emulator()
    start_runner(emulator, RUNNER_CONCURRENCY="100")
    ids = [pipeline.request(SEED_PROMPT) for _ in range(100)]
    ended = pipeline.wait_all_terminal(ids, timeout=120)
    assert {e.type for e in ended.values()} == {schemas.GENERATION_COMPLETED}
    for gid in ids:
        assert ended[gid].data["tool_calls"] == 29
    counts = {len(distinct(pipeline.events(gid))) for gid in ids}
    assert counts == {31}  # started + 29 tool calls + completed, for every generation
    objects = emulator.stats()["objects"]
    assert objects["assistants"] == 1  # 100 concurrent starts found or created it once
    assert objects["runs"] == 100
