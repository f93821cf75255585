"""The two polling variants the runner only uses as a fallback, made the primary path for the bench."""
from __future__ import annotations

from typing import Any, Callable, Sequence

from services.common.tools import responses_tools
from services.runner.domain import Deadline
from services.runner.model_api import AssistantsModel, ResponsesModel, RunState, TurnState, _state, _turn, turn_options


class PollingAssistants(AssistantsModel):
    """Runs created and submitted without a stream; ``wait`` polls (honouring openai-poll-after-ms)."""

    def start_run(self, thread_id: str, *, instructions: str | None, model: str | None,
                  metadata: dict[str, str], on_created: Callable[[RunState], None],
                  deadline: Deadline | None = None) -> RunState:  # the polls in ``wait`` honour the deadline
        options: dict[str, Any] = {"metadata": metadata}
        if instructions:
            options["instructions"] = instructions
        if model:
            options["model"] = model
        state = _state(self._once.beta.threads.runs.create(thread_id, assistant_id=self.assistant_id(), **options))
        on_created(state)
        return state

    def submit(self, thread_id: str, run_id: str, outputs: Sequence[dict[str, str]],
               deadline: Deadline | None = None) -> RunState:
        return _state(self._runs.submit_tool_outputs(run_id, thread_id=thread_id, tool_outputs=list(outputs)))


class PollingResponses(ResponsesModel):
    """Background responses with no waiter: ``wait`` polls retrieve with the runner's backoff
    (0.1 s doubling, 2 s max)."""

    def create(self, *, prompt: str | None, instructions: str, previous_id: str | None,
               outputs: Sequence[dict[str, str]], model: str | None, metadata: dict[str, str],
               on_created: Callable[[TurnState], None], deadline: Deadline | None = None) -> TurnState:
        options = turn_options(prompt=prompt, previous_id=previous_id, outputs=outputs, metadata=metadata)
        turn = _turn(self._once.responses.create(model=model or self._model, instructions=instructions,
                                                 tools=responses_tools(), background=True, **options))
        on_created(turn)
        return turn
