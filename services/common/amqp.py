"""RABBITMQ_URL as the nodes of one cluster: connection parameters for every pika client.

``RABBITMQ_URL`` is one AMQP URL or a comma-separated list of them (the nodes of
one cluster: same vhost, same credentials). Every client connects to the nodes
in a shuffled order, so clients spread over the cluster and one that loses its
node moves to another on its next connect. Parsing and checking is
``config.amqp_urls`` (pure, run at start-up by ``load_settings``). Clients connect through
services/common/connection.py.
"""
from __future__ import annotations

import random
from typing import Sequence
from urllib.parse import urlsplit

import pika

from services.common.config import amqp_urls, amqp_vhost


def connection_parameters(url: str, **settings: object) -> list[pika.URLParameters]:
    """One ``pika.URLParameters`` per node of ``url``, shuffled, each with ``settings`` set
    (e.g. ``heartbeat=30, connection_attempts=1``)."""
    parameters = [pika.URLParameters(one) for one in amqp_urls(url)]
    for each in parameters:
        for key, value in settings.items():
            setattr(each, key, value)
    random.shuffle(parameters)
    return parameters


def shuffled(parameters: Sequence[pika.URLParameters]) -> list[pika.URLParameters]:
    """The same nodes in a fresh random order: for each new connection (pika's BlockingConnection tries
    them in turn), so a client does not keep trying a dead node first."""
    return random.sample(list(parameters), len(parameters))


def virtual_host(url: str) -> str:
    """The vhost every node of ``url`` shares."""
    return amqp_vhost(urlsplit(amqp_urls(url)[0]).path)
