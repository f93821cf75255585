"""An embedded SecantusDB server in its own process, for tests that need a real MongoDB wire protocol."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from pymongo import MongoClient
from pymongo.errors import PyMongoError


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class EmbeddedMongo:
    """`secantusd-py` on a free port with data under ``storage``; can be stopped, killed and restarted."""

    def __init__(self, storage: Path, port: int | None = None) -> None:
        self.storage = storage
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"

    def start(self, timeout: float = 60.0) -> "EmbeddedMongo":
        self.storage.mkdir(parents=True, exist_ok=True)
        exe = str(Path(sys.executable).with_name("secantusd-py"))
        with open(self.storage.with_suffix(".log"), "ab") as log:  # the child keeps its own copy
            self.process = subprocess.Popen(
                [exe, "--host", "127.0.0.1", "--port", str(self.port), "--storage-path", str(self.storage),
                 "--log-level", "WARNING"],
                stdout=subprocess.DEVNULL, stderr=log,
                env={k: v for k, v in os.environ.items() if k != "SECANTUS_TEST_FAST_STORAGE"},
            )
        deadline = time.monotonic() + timeout
        while True:
            try:
                with MongoClient(self.uri, serverSelectionTimeoutMS=500) as client:
                    client.admin.command("ping")
                return self
            except PyMongoError:
                if self.process.poll() is not None:
                    raise RuntimeError(
                        f"secantusd-py exited with {self.process.returncode}; see {self.storage}.log") from None
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        self.stop(signal.SIGKILL)
