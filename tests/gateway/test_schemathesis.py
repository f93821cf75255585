"""schemathesis against /openapi.json: no 5xx, and every response as the document says."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.gateway.documents import insert_generation, insert_recipe

CHECKS = ",".join([
    "not_a_server_error", "status_code_conformance", "content_type_conformance",
    "response_headers_conformance", "response_schema_conformance", "negative_data_rejection",
])


def test_the_api_matches_its_openapi_document(launch_gateway, mongo_db, tmp_path: Path):
    generation_id = insert_generation(mongo_db, status="completed")
    insert_recipe(mongo_db, generation_id, "pea_soup", "Pea soup", ingredients=[("1 kg", "peas")], steps=["Boil."])
    gateway = launch_gateway(GATEWAY_SSE_MAX_SECONDS="1", OPENAI_WEBHOOK_SECRET="whsec_c2NoZW1hdGhlc2lzLXRlc3Q=")
    result = subprocess.run(
        [str(Path(sys.executable).with_name("schemathesis")), "run", gateway.url("/openapi.json"),
         "--checks", CHECKS, "--max-examples", "25", "--phases", "examples,coverage,fuzzing,stateful",
         "--workers", "2", "--request-timeout", "10", "--seed", "1", "--no-color",
         "--generation-database", "none", "--suppress-health-check", "all",
         "--report", "junit", "--report-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=280,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
