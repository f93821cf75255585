"""`python -m services.cli generate "..." --follow` and friends. See `--help`."""
from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

from services.cli import dead_letters, render
from services.cli.client import ApiError, GatewayClient
from services.common.config import ConfigError, load_settings

# The request of the blog post this project grew from.
SEED_PROMPT = ("Design a simple easy to cook recipe for vegetarian lasagne. "
               "Add it to the database then add each ingredient to the recipe "
               "and finally, add each step for cooking to the recipe.")
SEED_INSTRUCTIONS = "Please address the user Chef. You must respond to any orders given by Chef with 'Yes chef!'"


def gateway_url(bind: str) -> str:
    """The URL a local client (or a browser on this machine) reaches a gateway bound to ``bind`` at."""
    host, _, port = bind.rpartition(":")
    return f"http://{'127.0.0.1' if host in ('0.0.0.0', '', '::') else host}:{port}"


def generate(client: GatewayClient, prompt: str, instructions: str | None, follow: bool) -> int:
    accepted = client.submit(prompt, instructions)
    generation_id = accepted["id"]
    print(f"generation {generation_id} accepted ({accepted['status']})", flush=True)
    if not follow:
        return 0
    counts: dict[str, int] = {}
    final = None
    for event in client.events(generation_id):
        line = render.progress_line(event, counts)
        if line:
            print(line, flush=True)
        final = event
    generation = client.generation(generation_id)
    if generation["status"] != "completed":
        print(f"generation ended as {generation['status']}: {generation.get('error') or final}", file=sys.stderr)
        return 1
    for ref in generation["recipes"]:
        print()
        print(render.recipe_text(client.recipe(ref["id"])), flush=True)
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
API description: {gateway_url}/openapi.json   Ctrl-C stops everything.""", flush=True)
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
    gen = commands.add_parser("generate", help="submit a generation request")
    gen.add_argument("prompt")
    gen.add_argument("--instructions")
    gen.add_argument("--follow", action="store_true", help="follow live, then print the recipe")
    listing = commands.add_parser("list", help="list recipes")
    listing.add_argument("--ingredient")
    listing.add_argument("--q", help="words of the name")
    show = commands.add_parser("show", help="show one recipe")
    show.add_argument("recipe_id")
    commands.add_parser("demo", help="the make-run demo: the seed's request, then keep serving")
    dead = commands.add_parser("dead-letters", help="inspect or replay a queue's dead letters")
    dead.add_argument("action", choices=("list", "replay"))
    dead.add_argument("queue", help="work queue name, e.g. store.events")
    args = parser.parse_args(argv)

    client = GatewayClient(args.gateway, args.api_key)
    try:
        if args.command == "generate":
            return generate(client, args.prompt, args.instructions, args.follow)
        if args.command == "list":
            print(render.recipe_list_text(client.recipes(ingredient=args.ingredient, q=args.q)))
            return 0
        if args.command == "show":
            print(render.recipe_text(client.recipe(args.recipe_id)))
            return 0
        if args.command == "demo":
            return demo(client, args.gateway)
        if args.action == "list":
            for letter in dead_letters.peek(settings.rabbitmq_url, args.queue):
                print(f"{letter.message_id}  {letter.routing_key:28}  {letter.reason}")
            return 0
        print(f"replayed {dead_letters.replay(settings.rabbitmq_url, args.queue)} messages")
        return 0
    except ApiError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
