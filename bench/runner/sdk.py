"""`python -m bench.runner.sdk`: the model API's share of a generation's CPU, the backends alone.

Each backend drives BENCH_GENERATIONS seed generations one after another, in this process, through
its own API calls (services/runner/backends/: the openai SDK's requests and streams, the calls
assembled from them) against the emulator (think 0), with every call answered "OK": no broker, no
MongoDB, no threads. CPU per generation = this process's CPU time over them (time.process_time),
after a few warm-up generations. It is the part of bench.runner's CPU per call that the backends
own (BENCHMARKS.md, "Runner cost per tool call").
"""
from __future__ import annotations

import os
import time
from typing import Callable


from bench.runner import instant_emulator
from services.common.vocabulary import SEED_INSTRUCTIONS, SEED_PROMPT
from services.runner import domain
from services.runner.backends.assistants import AssistantsModel
from services.runner.backends.responses import ResponsesModel
from services.runner.backends.sdk import make_client
from services.runner.domain import ToolCall, Turn

GENERATIONS = int(os.environ.get("BENCH_GENERATIONS", "200"))
WARM_UP = 5
METADATA = {"generation_id": "bench"}


def _outputs(turn: Turn) -> list[dict[str, str]]:
    return [{"tool_call_id": call.id, "output": "OK"} for call in turn.tool_calls]


def responses_generation(model: ResponsesModel, on_call: Callable[[ToolCall, int], None]) -> None:
    instructions = f"{domain.ASSISTANT_INSTRUCTIONS}\n\n{SEED_INSTRUCTIONS}"
    turn = model.create(prompt=SEED_PROMPT, instructions=instructions, previous_id=None, outputs=(), model=None,
                        metadata=METADATA, on_created=lambda _turn: None, on_call=on_call)
    while turn.tool_calls:
        turn = model.create(prompt=None, instructions=instructions, previous_id=turn.id, outputs=_outputs(turn),
                            model=None, metadata=METADATA, on_created=lambda _turn: None, on_call=on_call)


def assistants_generation(model: AssistantsModel, on_call: Callable[[ToolCall, int], None]) -> None:
    thread_id = model.create_thread()
    model.add_message(thread_id, SEED_PROMPT)
    turn = model.start_run(thread_id, instructions=SEED_INSTRUCTIONS, model=None, metadata=METADATA,
                           on_created=lambda _turn: None, on_call=on_call)
    while turn.tool_calls:
        turn = model.submit(thread_id, turn.id, _outputs(turn), on_call=on_call)


def measure(backend: str, base_url: str) -> tuple[float, int]:
    """CPU milliseconds per generation, and the tool calls of one generation."""
    client = make_client(None, base_url)
    calls: list[ToolCall] = []
    responses, assistants = ResponsesModel(client, "gpt-4.1"), AssistantsModel(client, "gpt-4.1")

    def on_call(call: ToolCall, _position: int) -> None:
        calls.append(call)

    def generation() -> None:
        if backend == "responses":
            responses_generation(responses, on_call)
        else:
            assistants_generation(assistants, on_call)

    try:
        for _ in range(WARM_UP):
            generation()
        calls.clear()
        started = time.process_time()
        for _ in range(GENERATIONS):
            generation()
        return 1000 * (time.process_time() - started) / GENERATIONS, len(calls) // GENERATIONS
    finally:
        client.close()


def main() -> None:
    with instant_emulator() as root:
        results = {backend: measure(backend, f"{root}/v1") for backend in ("responses", "assistants")}
    print(f"{GENERATIONS} seed generations per backend, one at a time, in-process; CPU of the backends' API calls")
    for backend, (per_generation, calls) in results.items():
        print(f"{backend:10} cpu_per_generation={per_generation:6.2f} ms calls={calls} "
              f"cpu_per_call={per_generation / max(calls, 1):5.3f} ms")


if __name__ == "__main__":
    main()
