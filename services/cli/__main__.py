"""`python -m services.cli generate "..." --follow` and friends. See `--help`."""
from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from typing import Any, Callable

from rich.console import Console

from services.cli import dead_letters, progress, render
from services.cli.client import ApiError, GatewayClient
from services.common.config import ConfigError, load_settings
from services.common.vocabulary import SEED_INSTRUCTIONS, SEED_PROMPT



def gateway_url(bind: str) -> str:
    """The URL a local client (or a browser on this machine) reaches a gateway bound to ``bind`` at."""
    host, _, port = bind.rpartition(":")
    return f"http://{'127.0.0.1' if host in ('0.0.0.0', '', '::') else host}:{port}"


def generate(client: GatewayClient, prompt: str, instructions: str | None, follow: bool,
             as_json: bool = False) -> int:
    """Submit; with ``follow``, show the generation live, then print its recipes. ``as_json``: JSON lines for
    scripts (the 202 answer; or, following, each event, then {"generation": ..., "recipes": [...]})."""
    accepted = client.submit(prompt, instructions)
    generation_id = accepted["id"]
    if as_json and not follow:
        progress.emit_json(accepted)
        return 0
    if not as_json:
        print(f"generation {generation_id} accepted ({accepted['status']})", flush=True)
    if not follow:
        return 0
    events = client.events(generation_id)
    console = Console()
    if as_json:
        final = progress.as_json_lines(events)
    elif console.is_terminal:  # a person watching: the bar; a pipe or a log gets the plain lines
        final = progress.with_bar(events, console, generation_id)
    else:
        final = progress.as_lines(events)
    generation = client.generation(generation_id)
    recipes = [client.recipe(ref["id"]) for ref in generation["recipes"]]
    if as_json:
        progress.emit_json({"generation": generation, "recipes": recipes})
    if generation["status"] != "completed":
        print(f"generation ended as {generation['status']}: {generation.get('error') or final}", file=sys.stderr)
        return 1
    for recipe in [] if as_json else recipes:
        print()
        print(render.recipe_text(recipe), flush=True)
    return 0


def demo(client: GatewayClient, gateway_url: str) -> int:
    """The `make run` demo: the seed's request, followed live, then keep serving until stopped."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print(f"waiting for the gateway at {gateway_url} ...", flush=True)
    client.wait_ready()
    print(f"submitting the seed's request: {SEED_PROMPT!r}", flush=True)
    status = generate(client, SEED_PROMPT, SEED_INSTRUCTIONS, follow=True)
    print(f"""
The system keeps running. Open {gateway_url}/ in a browser to ask for recipes and watch them being written, or try:
  curl -s -X POST {gateway_url}/v1/generations -H 'Content-Type: application/json' \\
       -d '{{"prompt": "A quick tomato soup"}}'
  curl -s {gateway_url}/v1/recipes
  curl -s -H 'Accept: application/ld+json' {gateway_url}/v1/recipes/<id>
  python -m services.cli generate "A quick tomato soup" --follow
API description: {gateway_url}/openapi.json   events: {gateway_url}/asyncapi.json
Ctrl-C stops everything.""", flush=True)
    stop.wait()
    return status


def main(argv: list[str] | None = None) -> int:
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    parser = argparse.ArgumentParser(prog="python -m services.cli", description=__doc__)
    parser.add_argument("--gateway", default=os.environ.get("GATEWAY_URL") or gateway_url(settings.gateway_bind),
                        help="gateway base URL (default: from GATEWAY_URL or GATEWAY_BIND)")
    # With GATEWAY_API_KEYS set (as under `make run`), the first configured key is the CLI's (and the demo's).
    parser.add_argument("--api-key",
                        default=os.environ.get("GATEWAY_API_KEY") or next(iter(settings.gateway_api_keys), None),
                        help="bearer key (default: GATEWAY_API_KEY, else the first of GATEWAY_API_KEYS)")
    commands = parser.add_subparsers(dest="command", required=True)
    json_output = argparse.ArgumentParser(add_help=False)
    json_output.add_argument("--json", action="store_true", help="machine-readable output: JSON (one per line)")
    gen = commands.add_parser("generate", help="submit a generation request", parents=[json_output])
    gen.add_argument("prompt")
    gen.add_argument("--instructions")
    gen.add_argument("--follow", action="store_true",
                     help="follow live (a progress bar on a terminal), then print the recipe")
    listing = commands.add_parser("list", help="list recipes", parents=[json_output])
    listing.add_argument("--ingredient")
    listing.add_argument("--q", help="words of the name")
    show = commands.add_parser("show", help="show one recipe", parents=[json_output])
    show.add_argument("recipe_id")
    commands.add_parser("demo", help="the make-run demo: the seed's request, then keep serving")
    dead = commands.add_parser("dead-letters", help="inspect or replay a queue's dead letters", parents=[json_output])
    dead.add_argument("action", choices=("list", "replay"))
    dead.add_argument("queue", help="work queue name, e.g. store.events")
    args = parser.parse_args(argv)

    client = GatewayClient(args.gateway, args.api_key)
    try:
        if args.command == "generate":
            return generate(client, args.prompt, args.instructions, args.follow, args.json)
        if args.command == "list":
            _show(client.recipes(ingredient=args.ingredient, q=args.q), render.recipe_list_text, args.json)
            return 0
        if args.command == "show":
            _show(client.recipe(args.recipe_id), render.recipe_text, args.json)
            return 0
        if args.command == "demo":
            return demo(client, args.gateway)
        return _dead_letters(settings.rabbitmq_url, args.action, args.queue, args.json)
    except ApiError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _dead_letters(url: str, action: str, queue: str, as_json: bool) -> int:
    if action == "list":
        for letter in dead_letters.peek(url, queue):
            if as_json:
                progress.emit_json({"message_id": letter.message_id, "routing_key": letter.routing_key,
                                    "reason": letter.reason})
            else:
                print(f"{letter.message_id}  {letter.routing_key:28}  {letter.reason}")
        return 0
    replayed = dead_letters.replay(url, queue)
    _show({"replayed": replayed}, lambda answer: f"replayed {answer['replayed']} messages", as_json)
    return 0


def _show(answer: dict[str, Any], as_text: Callable[[dict[str, Any]], str], as_json: bool) -> None:
    if as_json:
        progress.emit_json(answer)
    else:
        print(as_text(answer))


if __name__ == "__main__":
    sys.exit(main())
