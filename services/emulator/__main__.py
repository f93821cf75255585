"""`python -m services.emulator --port N [--host H] [knobs]`: serve the emulator (threaded, keep-alive)."""
from __future__ import annotations

import argparse
import logging
import threading
from typing import Any, Sequence

from werkzeug.serving import ThreadedWSGIServer, make_server

from services.common.lifecycle import on_shutdown_signal
from services.common.logs import configure_logging
from services.emulator.app import create_app
from services.emulator.faults import FaultSpecError, Knobs, parse_faults
from services.emulator.models import parse_models
from services.emulator.serving import KeepAliveHandler

log = logging.getLogger("services.emulator")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m services.emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--latency-ms", type=int, default=0, help="added to every /v1 request")
    parser.add_argument("--think-ms", type=int, default=50, help="time a run/response stays in progress per model turn")
    parser.add_argument("--poll-after-ms", type=int, default=100, help="openai-poll-after-ms sent on unfinished runs")
    parser.add_argument("--retry-after-ms", type=int, default=100, help="retry-after-ms sent with emulated 429s")
    parser.add_argument("--run-expire-s", type=int, default=600, help="requires_action runs expire after this")
    parser.add_argument("--tokens-per-second", type=int, default=0,
                        help="streamed function-call arguments are written at this pace (~4 characters a token); "
                             "0: instant")
    parser.add_argument("--models", default=None,
                        help='served models, e.g. "gpt-6.1-sol,gpt-5@2026-12-11" (id@shutdown date); '
                             "default: today's list")
    parser.add_argument("--strict-models", action="store_true",
                        help="a request naming a model not served gets 404 model_not_found (default: any model works)")
    parser.add_argument("--assistants-shutdown", action="store_true",
                        help="play the Assistants API shut down: /v1/assistants* and /v1/threads* answer 404")
    parser.add_argument("--faults", default="", help='e.g. "rate_limit=0.2,server_error=0.1,drop=0.05"')
    parser.add_argument("--seed", type=int, default=None, help="makes fault decisions reproducible")
    parser.add_argument("--webhook-url", default=None, help="POST signed response.* webhooks here")
    parser.add_argument("--webhook-secret", default=None, help="whsec_... secret for the webhook signatures")
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


def knobs_from_args(args: argparse.Namespace) -> Knobs:
    faults = parse_faults(args.faults)
    if args.assistants_shutdown:
        faults["assistants_shutdown"] = 1.0
    models: dict[str, Any] = {"models": parse_models(args.models)} if args.models is not None else {}
    return Knobs(latency_ms=args.latency_ms, think_ms=args.think_ms, poll_after_ms=max(1, args.poll_after_ms),
                 retry_after_ms=args.retry_after_ms, run_expire_s=args.run_expire_s,
                 faults=faults, seed=args.seed,
                 tokens_per_second=max(0, args.tokens_per_second), strict_models=args.strict_models,
                 **models)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        knobs = knobs_from_args(args)
    except FaultSpecError as exc:
        raise SystemExit(f"--faults: {exc}") from None
    except ValueError as exc:
        raise SystemExit(f"--models: {exc}") from None
    configure_logging("emulator", args.log_level.upper())
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    app = create_app(knobs, webhook_url=args.webhook_url, webhook_secret=args.webhook_secret)
    ThreadedWSGIServer.request_queue_size = 1024  # hundreds of clients connect at once
    server = make_server(args.host, args.port, app, threaded=True, request_handler=KeepAliveHandler)
    server.daemon_threads = True  # type: ignore[attr-defined]  # threaded=True: a ThreadedWSGIServer
    on_shutdown_signal(lambda: threading.Thread(target=server.shutdown, daemon=True).start())
    log.info("emulator listening", extra={"url": f"http://{args.host}:{server.port}/v1",
                                          "knobs": app.extensions["emulator"].knobs.as_dict()})
    server.serve_forever()
    log.info("emulator stopped")


if __name__ == "__main__":
    main()
