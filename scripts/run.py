"""`make run`: start the embedded dependencies and every service under one process manager.

* SecantusDB (a MongoDB wire-protocol server) unless MONGO_URI is set; its data
  lives in $DATA_DIR/mongo (default .data/mongo, git-ignored), so a restart keeps the recipes.
* The OpenAI emulator unless OPENAI_API_KEY is set.
* The store, the runner and the gateway, each as `python -m services.<name>`; the gateway also
  serves the web page, whose URL is the first line printed.

honcho prefixes every line with the process name and stops all of them on
Ctrl-C (or when one of them exits). The demo uses the first of GATEWAY_API_KEYS when
keys are on; a failing demo is reported and waits, so the services keep serving.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from honcho.manager import Manager
from honcho.printer import Printer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from services.cli.__main__ import gateway_url  # noqa: E402
from services.common.config import ConfigError, load_settings  # noqa: E402

MONGO_PORT = int(os.environ.get("EMBEDDED_MONGO_PORT", "27018"))
DATA_DIR = Path(os.environ.get("DATA_DIR", str(ROOT / ".data")))
EMULATOR_PORT = int(os.environ.get("EMULATOR_PORT", "8081"))
SERVICES = ("store", "runner", "gateway")
DEMO_FAILED = "the demo failed"


def main() -> int:
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    python = sys.executable
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    manager = Manager(Printer(sys.stdout))

    if not settings.mongo_uri:
        data = DATA_DIR / "mongo"
        data.mkdir(parents=True, exist_ok=True)
        secantusd = str(Path(python).with_name("secantusd-py"))
        manager.add_process(
            "mongo", f"{secantusd} --host 127.0.0.1 --port {MONGO_PORT} --storage-path {data} --log-level WARNING",
            env=env)
        env["MONGO_URI"] = f"mongodb://127.0.0.1:{MONGO_PORT}/?directConnection=true"

    if not settings.openai_api_key:
        manager.add_process("emulator", f"{python} -m services.emulator --port {EMULATOR_PORT}", env=env)
        env["OPENAI_BASE_URL"] = f"http://127.0.0.1:{EMULATOR_PORT}/v1"
        env["OPENAI_API_KEY"] = "sk-emulator"

    for name in SERVICES:
        if (ROOT / "services" / name / "__main__.py").exists():
            manager.add_process(name, f"{python} -m services.{name}", env=env)
    manager.add_process("webhooks", f"{python} -m services.gateway deliver", env=env)

    if (ROOT / "services" / "cli" / "__main__.py").exists():
        # honcho stops everything when one process exits; the demo is an example, not a service.
        manager.add_process("demo", f"{python} {Path(__file__).resolve()} demo", env=env)

    print(banner(settings.gateway_bind, bool(settings.gateway_api_keys)), flush=True)
    manager.loop()
    return manager.returncode or 0


def banner(bind: str, keys: bool) -> str:
    """The first thing `make run` prints: where the web page is."""
    url = gateway_url(bind)
    ask = "; the page asks for one of GATEWAY_API_KEYS" if keys else ""
    return (f"Recipe generator: open {url}/ in a browser\n"
            f"  (the demo's recipe is written there live{ask}; API: {url}/openapi.json; Ctrl-C stops everything)")


def demo() -> int:
    """The demo, guarded: when it fails, say so and wait (for honcho's SIGTERM), so nothing else stops."""
    status = subprocess.call([sys.executable, "-m", "services.cli", "demo"])
    if status == 0:
        return 0
    print(f"{DEMO_FAILED} (exit status {status}); the services keep serving", file=sys.stderr, flush=True)
    while True:
        signal.pause()


if __name__ == "__main__":
    sys.exit(demo() if sys.argv[1:] == ["demo"] else main())
