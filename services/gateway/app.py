"""The Flask app factory: blueprints per resource, adapters in app.extensions, problem details."""
from __future__ import annotations

from flask import Flask, Response
from pymongo.errors import PyMongoError

from services.common.config import Settings
from services.gateway import auth, inputs, metrics, problems
from services.gateway.bootstrap import bootstrap
from services.gateway.problems import problem_response
from services.gateway.resources import Resources


def create_app(settings: Settings | None = None, *, resources: Resources | None = None) -> Flask:
    """The app over ``resources`` (default: what ``bootstrap`` builds from ``settings``)."""
    resources = resources or bootstrap(settings)
    settings = resources.settings
    app = Flask(__name__)  # the web page's templates/ and static/ (served at /static) sit beside this module
    app.config["MAX_CONTENT_LENGTH"] = settings.gateway_max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]  # Flask's DefaultJSONProvider has it
    app.extensions["gateway"] = resources
    problems.init_app(app)
    app.register_error_handler(PyMongoError, _database_unavailable)
    metrics.init_app(app)
    auth.init_app(app, settings.gateway_api_keys, settings.gateway_operator_keys)
    inputs.init_app(app)  # after auth: an unauthenticated caller learns nothing about its input

    from services.gateway import (asyncapi, generations, health, openai_webhooks, openapi, recipes, replay,
                                  rotation, subscription_status, subscriptions, web)
    for blueprint in (generations.bp, recipes.bp, subscriptions.bp, subscription_status.bp, replay.bp, rotation.bp,
                      openai_webhooks.bp, health.bp, openapi.bp, asyncapi.bp, web.bp):
        app.register_blueprint(blueprint)
    return app


def _database_unavailable(error: PyMongoError) -> Response:
    import logging
    logging.getLogger(__name__).warning("MongoDB unavailable", extra={"error": repr(error)})
    return problem_response(503, "database-unavailable", "Service Unavailable",
                            "The database is unavailable; retry later.", {"Retry-After": "5"})
