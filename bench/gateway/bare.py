"""The ceiling: a bare Flask POST endpoint served by the gateway's own gunicorn settings."""
from __future__ import annotations

import json
import uuid

from flask import Flask, Response, request

from services.common.config import load_settings
from services.gateway.server import GatewayServer


def bare_app() -> Flask:
    app = Flask(__name__)

    @app.post("/v1/generations")
    def create() -> Response:
        body = request.get_json()
        generation_id = str(uuid.uuid4())
        payload = {"id": generation_id, "status": "queued", "prompt_length": len(body["prompt"])}
        response = Response(json.dumps(payload), status=202, content_type="application/json")
        response.headers["Location"] = f"/v1/generations/{generation_id}"
        return response

    return app


class BareServer(GatewayServer):
    def load(self):
        return bare_app()


if __name__ == "__main__":
    BareServer(load_settings()).run()
