"""The two baselines, measured in the same run as the system:

* model alone: the same generations driven straight against the same emulator with the openai SDK
  (Assistants, streamed like the runner, every tool call answered "OK", same concurrency; no broker,
  no database): the ceiling the model API puts on the system;
* floor: one confirmed publish + consume on the same broker, then one durable (w=majority, j=true)
  insert into the same database, in sequence: the least a tool call's trip to MongoDB can cost.
"""
from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pika
from openai import OpenAI
from pymongo import MongoClient

from bench.e2e.workload import BenchFailure, expected_tool_calls, prompt_for
from services.common import topology
from services.common.amqp import connection_parameters
from services.common.events import encode, new_event
from services.common.mongo import DURABLE
from services.common.tools import assistants_tools
from tests.support.broker import wait_for_broker

INSTRUCTIONS = "You are a sous chef, you compose recipes that are easy to follow."
FLOOR_QUEUE = topology.QueueSpec("bench.floor", ("bench.floor",))


def _run_events(stream: Any) -> Any:
    """Read a run stream to its end like the runner does: the last thread.run.* object is the run."""
    run = None
    with stream:
        for event in stream:
            name = getattr(event, "event", "") or ""
            if name.startswith("thread.run.") and not name.startswith("thread.run.step"):
                run = event.data
    if run is None:
        raise BenchFailure("a run stream carried no run object")
    return run


def _generation(client: OpenAI, assistant_id: str, prompt: str) -> int:
    """One generation as the seed script does it (thread, message, run, submit "OK" per batch, read the
    final message), streamed; returns how many tool calls the model made."""
    runs = client.beta.threads.runs
    thread = client.beta.threads.create()
    client.beta.threads.messages.create(thread.id, role="user", content=prompt)
    run = _run_events(runs.create(thread.id, assistant_id=assistant_id, stream=True))
    calls = 0
    while run.status == "requires_action":
        pending = run.required_action.submit_tool_outputs.tool_calls
        calls += len(pending)
        outputs = [{"tool_call_id": call.id, "output": "OK"} for call in pending]
        run = _run_events(runs.submit_tool_outputs(run.id, thread_id=thread.id, tool_outputs=outputs, stream=True))
    if run.status != "completed":
        raise BenchFailure(f"model-alone run {run.id} ended {run.status}")
    messages = client.beta.threads.messages.list(thread.id, order="asc")
    if not any(m.role == "assistant" for m in messages):
        raise BenchFailure(f"model-alone run {run.id} has no assistant message")
    if calls != expected_tool_calls(prompt):
        raise BenchFailure(f"model-alone run {run.id}: {calls} tool calls, expected {expected_tool_calls(prompt)}")
    return calls


def model_alone(emulator_url: str, phase: str, count: int, concurrency: int) -> tuple[int, float]:
    """Drive ``count`` generations with ``concurrency`` threads on one SDK client; (tool calls, seconds)."""
    client = OpenAI(base_url=f"{emulator_url}/v1", api_key="sk-bench", max_retries=0, timeout=300)
    try:
        assistant = client.beta.assistants.create(name="bench model-alone", instructions=INSTRUCTIONS,
                                                  tools=assistants_tools(), model="gpt-4-1106-preview")
        prompts = [prompt_for(f"{phase}-alone", i) for i in range(count)]
        pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="bench-model")
        start = time.perf_counter()
        try:
            calls = sum(pool.map(lambda prompt: _generation(client, assistant.id, prompt), prompts))
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        return calls, time.perf_counter() - start
    finally:
        client.close()


def floor(url: str, mongo_uri: str, samples: int) -> tuple[list[float], int]:
    """The floor samples, and how many attempts were lost to the broker going away (RabbitMQ is shared:
    another user's test may restart it); a lost attempt is measured again from the start, twice at most."""
    for lost in range(3):
        try:
            return _floor_once(url, mongo_uri, samples), lost
        except pika.exceptions.AMQPError:
            if lost == 2:
                raise
            wait_for_broker()
    raise AssertionError("unreachable")


def _floor_once(url: str, mongo_uri: str, samples: int, warmup: int = 20) -> list[float]:
    """Seconds per (confirmed publish -> consumed and acked -> durable insert), one message at a time."""
    step = {"id": "vegetarian_lasagne", "step_number": 1, "instructions": "Stir gently over a low heat. " * 4}
    event = new_event("toolcall.add_step", "runner", {"generation_id": str(uuid.uuid4()),
                                                      "tool_call_id": "call_" + "0" * 24, "arguments": step})
    body = encode(event)  # the size of a real tool-call event
    properties = pika.BasicProperties(delivery_mode=2, content_type="application/cloudevents+json")
    publishing = pika.BlockingConnection(connection_parameters(url))  # any node of a cluster
    consuming = pika.BlockingConnection(connection_parameters(url))
    try:
        channel = publishing.channel()
        topology.declare_queue(channel, FLOOR_QUEUE, delivery_limit=20)
        channel.confirm_delivery()
        receive = consuming.channel()
        receive.basic_qos(prefetch_count=1)
        messages = receive.consume(FLOOR_QUEUE.name, inactivity_timeout=30)
        with MongoClient(mongo_uri) as client:
            collection = client["bench_floor"].get_collection("writes", write_concern=DURABLE)
            results = []
            for index in range(warmup + samples):
                start = time.perf_counter()
                channel.basic_publish(topology.EXCHANGE, FLOOR_QUEUE.name, body, properties, mandatory=True)
                method, _properties, received = next(messages)
                if method is None:
                    raise BenchFailure("floor: a confirmed message was not delivered within 30 s")
                receive.basic_ack(method.delivery_tag)
                collection.insert_one({"_id": f"{event.id}-{index}", "data": event.data, "size": len(received)})
                if index >= warmup:
                    results.append(time.perf_counter() - start)
            receive.cancel()
            client.drop_database("bench_floor")
        return results
    finally:
        for connection in (publishing, consuming):
            if connection.is_open:
                try:
                    connection.close()
                except pika.exceptions.AMQPError:
                    pass  # the broker went away: the caller measures again
