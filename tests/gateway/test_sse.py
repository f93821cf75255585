"""GET /v1/generations/{id}/events: server-sent events from generation_events, bounded."""
from __future__ import annotations

import json
import signal
import threading
from datetime import datetime, timedelta, timezone
from typing import Iterator

from services.common.schemas import (GENERATION_COMPLETED, GENERATION_STARTED, TOOLCALL_ADD_INGREDIENT,
                                     TOOLCALL_ADD_RECIPE, TOOLCALL_ADD_STEP)
from tests.gateway.client import GatewayClient, assert_problem
from tests.gateway.documents import insert_event, insert_generation
from tests.support.waiting import wait_for


def frames(response) -> Iterator[dict]:
    """Parse an SSE stream into {id, event, data} frames (comments and retry-only frames skipped)."""
    frame: dict = {}
    for line in response.iter_lines(decode_unicode=True):
        if line == "":
            if "event" in frame:
                yield frame
            frame = {}
        elif not line.startswith(":"):
            field, _, value = line.partition(": ")
            frame[field] = json.loads(value) if field == "data" else value


def a_finished_generation(db) -> tuple[str, list[str]]:
    generation_id = insert_generation(db, status="running")
    ids = [
        insert_event(db, generation_id, GENERATION_STARTED, {"backend": "assistants", "model": "m"}),
        insert_event(db, generation_id, TOOLCALL_ADD_RECIPE, {"tool_call_id": "c1", "arguments": {
            "id": "soup", "name": "Soup", "description": "Hot."}}, call="c1"),
        insert_event(db, generation_id, TOOLCALL_ADD_INGREDIENT, {"tool_call_id": "c2", "arguments": {
            "id": "soup", "ingredient": "leek", "quantity": "2"}}, call="c2"),
        insert_event(db, generation_id, GENERATION_COMPLETED, {"message": "Done."}),
    ]
    return generation_id, ids


def stream(gateway, generation_id: str, **headers: str):
    return gateway.get(f"/v1/generations/{generation_id}/events", headers=headers, stream=True, timeout=(5, 15))


def test_a_late_subscriber_gets_the_whole_history_and_the_stream_ends(gateway, mongo_db):
    generation_id, ids = a_finished_generation(mongo_db)
    with stream(gateway, generation_id) as response:
        assert response.headers["Content-Type"].startswith("text/event-stream")
        received = list(frames(response))
    assert [f["id"] for f in received] == ids
    assert [f["event"] for f in received][-1] == GENERATION_COMPLETED
    assert received[1]["data"]["data"]["arguments"]["name"] == "Soup"


def test_last_event_id_resumes_after_that_event(gateway, mongo_db):
    generation_id, ids = a_finished_generation(mongo_db)
    with stream(gateway, generation_id, **{"Last-Event-ID": ids[1]}) as response:
        assert [f["id"] for f in frames(response)] == ids[2:]


def test_tool_calls_are_streamed_as_they_land_then_the_final_status(gateway, mongo_db):
    generation_id = insert_generation(mongo_db, status="running")
    first = insert_event(mongo_db, generation_id, GENERATION_STARTED, {"backend": "assistants", "model": "m"})
    with stream(gateway, generation_id) as response:
        received = frames(response)
        assert next(received)["id"] == first
        step = insert_event(mongo_db, generation_id, TOOLCALL_ADD_STEP, {"tool_call_id": "c9", "arguments": {
            "id": "soup", "step_number": 1, "instructions": "Chop."}}, call="c9")
        assert next(received)["id"] == step
        done = insert_event(mongo_db, generation_id, GENERATION_COMPLETED, {"message": "Done."})
        assert next(received)["id"] == done
        assert list(received) == []  # the stream ended after the final status


def test_an_event_stamped_earlier_but_written_later_is_not_missed(gateway, mongo_db):
    generation_id = insert_generation(mongo_db, status="running")
    first = insert_event(mongo_db, generation_id, GENERATION_STARTED, {"backend": "assistants", "model": "m"})
    stamped_before = mongo_db.generation_events.find_one({"_id": first})["recorded_at"] - timedelta(milliseconds=500)
    with stream(gateway, generation_id) as response:
        received = frames(response)
        assert next(received)["id"] == first
        late = insert_event(mongo_db, generation_id, TOOLCALL_ADD_RECIPE, {"tool_call_id": "c1", "arguments": {
            "id": "soup", "name": "Soup", "description": "Hot."}}, call="c1", recorded_at=stamped_before)
        assert next(received)["id"] == late
        insert_event(mongo_db, generation_id, GENERATION_COMPLETED, {"message": "Done."})
        assert next(received)["event"] == GENERATION_COMPLETED


def test_in_a_batch_stamped_at_one_instant_the_final_status_comes_last(gateway, mongo_db):
    generation_id = insert_generation(mongo_db, status="running")
    at = datetime.now(timezone.utc).replace(microsecond=0)
    batch = [("0-done", GENERATION_COMPLETED, {"message": "Done."}),  # sorts first by _id
             ("1-recipe", TOOLCALL_ADD_RECIPE, {"tool_call_id": "c1", "arguments": {
                 "id": "soup", "name": "Soup", "description": "Hot."}}),
             ("2-step", TOOLCALL_ADD_STEP, {"tool_call_id": "c2", "arguments": {
                 "id": "soup", "step_number": 1, "instructions": "Chop."}})]
    mongo_db.generation_events.insert_many([  # as the store logs one applied batch: one recorded_at
        {"_id": f"{generation_id}-{key}", "generation_id": generation_id, "type": kind,
         "data": {"generation_id": generation_id, **data}, "time": at.isoformat(), "recorded_at": at}
        for key, kind, data in batch])
    with stream(gateway, generation_id) as response:
        assert [f["event"] for f in frames(response)] == [TOOLCALL_ADD_RECIPE, TOOLCALL_ADD_STEP, GENERATION_COMPLETED]


def test_in_a_batch_the_model_s_calls_come_in_the_model_s_order_not_the_event_ids(gateway, mongo_db):
    # One turn's calls share a millisecond; the store records them with one recorded_at.
    generation_id = insert_generation(mongo_db, status="running")
    at = datetime.now(timezone.utc).replace(microsecond=0)
    names = [f"ingredient {n}" for n in range(12)]
    mongo_db.generation_events.insert_many([
        {"_id": f"{generation_id}-{(7 * n) % 12:02d}", "generation_id": generation_id, "type": TOOLCALL_ADD_INGREDIENT,
         "data": {"generation_id": generation_id, "tool_call_id": f"call_{(5 * n) % 12:02d}", "position": n,
                  "arguments": {"id": "soup", "ingredient": name, "quantity": "1"}},
         "time": at.isoformat(), "recorded_at": at} for n, name in enumerate(names)])
    insert_event(mongo_db, generation_id, GENERATION_COMPLETED, {"message": "Done."})
    with stream(gateway, generation_id) as response:
        received = [f["data"]["data"] for f in frames(response)][:-1]
    assert [data["arguments"]["ingredient"] for data in received] == names
    with stream(gateway, generation_id, **{"Last-Event-ID": f"{generation_id}-{(7 * 4) % 12:02d}"}) as response:
        rest = [f["data"]["data"]["arguments"]["ingredient"] for f in frames(response)
                if f["event"] == TOOLCALL_ADD_INGREDIENT]
    assert rest == names[5:]  # a resume inside the batch goes on in the same order


def test_a_stream_without_an_end_is_closed_after_the_configured_time(launch_gateway, mongo_db):
    gateway = launch_gateway(GATEWAY_SSE_MAX_SECONDS="1")
    generation_id = insert_generation(mongo_db, status="running")
    started = insert_event(mongo_db, generation_id, GENERATION_STARTED, {"backend": "assistants", "model": "m"})
    with stream(gateway, generation_id) as response:
        assert [f["id"] for f in frames(response)] == [started]


def test_past_the_workers_stream_limit_a_stream_is_a_503_problem_and_other_requests_are_still_served(
        launch_gateway, mongo_db):
    gateway = launch_gateway(GATEWAY_WORKERS="1", GATEWAY_SSE_MAX_STREAMS="1", GATEWAY_SSE_MAX_SECONDS="3")
    generation_id = insert_generation(mongo_db, status="running")
    started = insert_event(mongo_db, generation_id, GENERATION_STARTED, {"backend": "assistants", "model": "m"})
    with stream(gateway, generation_id) as first:
        assert next(frames(first))["id"] == started  # the one slot is held by this open stream
        refused = gateway.get(f"/v1/generations/{generation_id}/events", timeout=10)
        problem = assert_problem(refused, 503)
        assert refused.headers["Retry-After"] and "poll" in problem["detail"]
        assert gateway.get(f"/v1/generations/{generation_id}", timeout=10).status_code == 200
        metrics = gateway.get("/metrics", timeout=10).text
        assert "gateway_event_streams_open 1.0" in metrics
        assert "gateway_event_streams_refused_total 1.0" in metrics
        assert [f["id"] for f in frames(first)] == []  # the first stream ends at its time limit...
    # ...and gives its slot back (the server does so just after it sent the end of the stream)
    wait_for(lambda: "gateway_event_streams_open 0.0" in gateway.get("/metrics", timeout=10).text,
             timeout=10, message="the stream counted closed")
    wait_for(lambda: gateway.get(f"/v1/generations/{generation_id}/events", timeout=10).status_code == 200,
             timeout=10, message="the slot given back")


def test_events_of_an_unknown_generation_are_a_404_problem(gateway):
    assert_problem(gateway.get("/v1/generations/no-such-generation/events"), 404)


def test_events_recorded_just_after_the_status_turned_final_are_still_streamed(gateway, mongo_db):
    # The store writes a batch's generation status first and records its events right after.
    generation_id = insert_generation(mongo_db, status="completed")
    late = threading.Timer(1.0, lambda: (
        insert_event(mongo_db, generation_id, TOOLCALL_ADD_RECIPE, {"tool_call_id": "c1", "arguments": {
            "id": "soup", "name": "Soup", "description": "Hot."}}, call="c1"),
        insert_event(mongo_db, generation_id, GENERATION_COMPLETED, {"message": "Done."})))
    late.start()
    with stream(gateway, generation_id) as response:
        received = [f["event"] for f in frames(response)]
    late.join()
    assert received == [TOOLCALL_ADD_RECIPE, GENERATION_COMPLETED]


def test_on_sigterm_open_streams_end_at_once_asking_to_reconnect_and_the_gateway_exits(
        start_service, gateway_env, mongo_db):
    # Streams may stay open far longer than gunicorn's graceful timeout (20 s): they must not hold the shutdown.
    server = start_service("services.gateway", {**gateway_env, "GATEWAY_SSE_MAX_SECONDS": "120"}, name="gateway")
    gateway = GatewayClient(f"http://{gateway_env['GATEWAY_BIND']}")
    try:
        wait_for(lambda: gateway.is_up() or not server.running, timeout=30, message="gateway up")
        generation_id = insert_generation(mongo_db, status="running")
        started = insert_event(mongo_db, generation_id, GENERATION_STARTED, {"backend": "assistants", "model": "m"})
        with stream(gateway, generation_id) as response:
            lines = response.iter_lines(decode_unicode=True)
            assert next(line for line in lines if line.startswith("id: ")) == f"id: {started}"  # the stream is open
            server.process.send_signal(signal.SIGTERM)
            rest = list(lines)  # the server ends the stream
        assert ": the server is shutting down; reconnect with Last-Event-ID to resume" in rest
        assert server.process.wait(timeout=15) == 0
    finally:
        gateway.close()
