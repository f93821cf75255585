"""kill -9 of the runner mid-run: the redelivered request resumes the same model run."""
import pytest

from services.common import schemas
from services.common.events import derived_event_id
from tests.runner.helpers import SEED_PROMPT, as_json, distinct
from tests.support.waiting import wait_for

THINK = ("--think-ms", "1500")  # each model turn takes long enough to be caught mid-run


def _content(events):
    """What the events say, without ids (ids differ between generations by design)."""
    return sorted((e.type, as_json(e.data.get("arguments"))) for e in events)


def _expected_ids(gid, events):
    ids = {derived_event_id(gid, "started"), derived_event_id(gid, "completed")}
    return ids | {derived_event_id(gid, e.data["tool_call_id"]) for e in events if e.type.startswith("toolcall.")}


@pytest.mark.parametrize("kill_after", [schemas.GENERATION_STARTED, schemas.TOOLCALL_ADD_RECIPE,
                                        schemas.TOOLCALL_ADD_INGREDIENT])
def test_after_a_kill_the_same_run_completes_with_the_same_events(
        start_emulator, start_runner, pipeline, kill_after):
    emulator = start_emulator(*THINK)
    runner = start_runner(emulator)
    reference = pipeline.request(SEED_PROMPT)
    pipeline.wait_terminal(reference)
    expected = distinct(pipeline.events(reference))

    gid = pipeline.request(SEED_PROMPT)
    wait_for(lambda: any(e.type == kill_after for e in pipeline.events(gid)), timeout=30,
             message=f"{kill_after} of the second generation")
    runner.kill()
    start_runner(emulator)
    assert pipeline.wait_terminal(gid, timeout=60).type == schemas.GENERATION_COMPLETED

    copies = pipeline.events(gid)
    events = distinct(copies)
    assert _content(events) == _content(expected)
    assert {e.id for e in events} == _expected_ids(gid, events)
    assert len(events) == len(expected)
    started = [e for e in copies if e.type == schemas.GENERATION_STARTED]
    assert len({e.data["run_id"] for e in started}) == 1
    thread_runs = emulator.get(f"/threads/{started[0].data['thread_id']}/runs")["data"]
    assert [r["id"] for r in thread_runs] == [started[0].data["run_id"]]  # no second run
    assert emulator.stats()["objects"]["runs"] == 2  # the reference run and this one
