"""schemathesis against /openapi.json, every check and phase, API keys on: it finds nothing (no 5xx, every
response as the document says, every request the document allows accepted and every other refused)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.gateway.documents import insert_generation, insert_recipe

API_KEY = "schemathesis-key-1"
CONFIG = Path(__file__).with_name("schemathesis.toml")  # what a document cannot say (read it)


def test_the_api_matches_its_openapi_document(launch_gateway, mongo_db, tmp_path: Path):
    generation_id = insert_generation(mongo_db, status="completed")
    insert_recipe(mongo_db, generation_id, "pea_soup", "Pea soup", ingredients=[("1 kg", "peas")], steps=["Boil."])
    gateway = launch_gateway(API_KEY, GATEWAY_API_KEYS=API_KEY, GATEWAY_SSE_MAX_SECONDS="1",
                             OPENAI_WEBHOOK_SECRET="whsec_c2NoZW1hdGhlc2lzLXRlc3Q=")
    result = subprocess.run(
        [str(Path(sys.executable).with_name("schemathesis")), "--config-file", str(CONFIG),
         "run", gateway.url("/openapi.json"),
         "--checks", "all", "--max-examples", "40",
         "--header", f"Authorization: Bearer {API_KEY}", "--phases", "examples,coverage,fuzzing,stateful",
         "--workers", "2", "--request-timeout", "10", "--seed", "1", "--no-color",
         "--generation-database", "none", "--suppress-health-check", "all",
         "--report", "junit", "--report-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=280,
    )
    failures = result.stdout[result.stdout.find("FAILURES"):]  # the report, without the progress lines
    assert result.returncode == 0, failures[:8000] + result.stderr[-2000:]
