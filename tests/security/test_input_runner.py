"""A model's hostile tool calls (a lone surrogate, 20,000 levels of nesting) against the real runner and emulator:
each is a rejected call the model is told about, and the generation still completes with the full recipe."""
import pytest

from services.common import schemas
from tests.runner.conftest import pipeline, start_emulator, start_runner  # noqa: F401 - the real runner, as there
from tests.runner.helpers import SEED_PROMPT, by_type, distinct


@pytest.mark.parametrize(("fault", "reason"), [("lone_surrogate", "lone surrogate"), ("deep_args", "deeper than 64")])
def test_a_hostile_tool_call_is_rejected_and_the_generation_completes(start_emulator, start_runner, pipeline,
                                                                       fault, reason):
    emulator = start_emulator("--faults", f"{fault}=1")  # every first attempt of every call
    start_runner(emulator)
    gid = pipeline.request(SEED_PROMPT)
    pipeline.wait_terminal(gid, timeout=90)
    groups = by_type(distinct(pipeline.events(gid)))
    rejected = groups[schemas.TOOLCALL_REJECTED]
    assert len(rejected) == 29 and all(reason in r.data["error"] for r in rejected)
    assert len(groups[schemas.TOOLCALL_ADD_RECIPE]) == 1 and len(groups[schemas.TOOLCALL_ADD_STEP]) == 9
    assert [e.type for e in groups[schemas.GENERATION_COMPLETED]] == [schemas.GENERATION_COMPLETED]
