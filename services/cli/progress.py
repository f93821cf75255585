"""How a followed generation is shown: a live progress bar on a terminal, plain lines elsewhere (a pipe, a
log), JSON lines for scripts. Each returns the terminal event, if the stream had one."""
from __future__ import annotations

import json
from typing import Any, Iterable, Mapping

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from services.cli import render

Event = Mapping[str, Any]
_FINAL = {"generation.completed": "completed", "generation.failed": "failed"}


def emit_json(value: Any) -> None:
    """One JSON document on one line of stdout (JSON Lines)."""
    print(json.dumps(value, ensure_ascii=False), flush=True)


def as_json_lines(events: Iterable[Event]) -> Event | None:
    final = None
    for event in events:
        emit_json(event)
        final = event
    return final


def as_lines(events: Iterable[Event]) -> Event | None:
    counts: dict[str, int] = {}
    final = None
    for event in events:
        line = render.progress_line(event, counts)
        if line:
            print(line, flush=True)
        final = event
    return final


def with_bar(events: Iterable[Event], console: Console, generation_id: str) -> Event | None:
    """The lines above a bar that pulses while the model works (nobody knows how many calls it will make),
    fills when the generation ends, and stays with the final counts and the elapsed time."""
    counts: dict[str, int] = {}
    final = None
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[summary]}"),
               TimeElapsedColumn())
    with Progress(*columns, console=console, redirect_stdout=False, redirect_stderr=False) as progress:
        task = progress.add_task(f"generation {generation_id[:8]}", total=None,
                                 summary=render.counts_text(counts, "queued"))
        for event in events:
            line = render.progress_line(event, counts)
            if line:
                progress.console.print(line, markup=False, highlight=False)
            calls = sum(counts.values())
            status = _FINAL.get(str(event.get("type")), "running")
            progress.update(task, completed=calls, summary=render.counts_text(counts, status),
                            total=calls if status != "running" else None)
            final = event
    return final
