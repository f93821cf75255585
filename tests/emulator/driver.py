"""The seed's own sequence of SDK calls, as helpers the emulator tests share."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from openai import OpenAI

from services.common.tools import assistants_tools

SEED = json.loads((Path(__file__).resolve().parents[2] / "services" / "emulator" / "seed_recipe.json").read_text())
SEED_PROMPT: str = SEED["prompt"]
SEED_INSTRUCTIONS: str = SEED["instructions"]
ASSISTANT_NAME = "Recipe Generator"


@dataclass
class Collected:
    """Every tool call the model made, as (name, parsed arguments), in order."""

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    batches: list[list[str]] = field(default_factory=list)

    def named(self, name: str) -> list[dict[str, Any]]:
        return [args for called, args in self.calls if called == name]


def seed_ingredients() -> list[dict[str, Any]]:
    return [{"id": SEED["recipe"]["id"], **item} for item in SEED["ingredients"]]


def seed_steps() -> list[dict[str, Any]]:
    return [{"id": SEED["recipe"]["id"], **step} for step in SEED["steps"]]


def get_or_create_assistant(client: OpenAI) -> Any:
    """The seed's "get or create": list, match the name, else create; then update with the three tools."""
    assistant = next((a for a in client.beta.assistants.list() if a.name == ASSISTANT_NAME), None)
    if assistant is None:
        assistant = client.beta.assistants.create(
            name=ASSISTANT_NAME, instructions="You are a sous chef, you compose recipes that are easy to follow.",
            tools=[], model="gpt-6.1-sol")
    return client.beta.assistants.update(assistant_id=assistant.id, tools=assistants_tools())


def start_seed_thread(client: OpenAI, prompt: str = SEED_PROMPT) -> Any:
    thread = client.beta.threads.create()
    client.beta.threads.messages.create(thread_id=thread.id, role="user", content=prompt)
    return thread


def record(collected: Collected, tool_calls: list[Any]) -> None:
    """Add a batch; arguments that are not valid JSON are kept as ``{"raw": text}``."""
    collected.batches.append([call.function.name for call in tool_calls])
    for call in tool_calls:
        try:
            arguments = json.loads(call.function.arguments)
        except ValueError:
            arguments = {"raw": call.function.arguments}
        collected.calls.append((call.function.name, arguments))


def ok_outputs(tool_calls: list[Any], answer: Callable[[Any], str] = lambda call: "OK") -> list[dict[str, str]]:
    return [{"tool_call_id": call.id, "output": answer(call)} for call in tool_calls]
