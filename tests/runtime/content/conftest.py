"""Fixtures of the content tests (curricula, KB, sessions, telemetry, models, admin, storage).

``moto_s3`` runs moto's S3 server on a free loopback port for the module (a real HTTP peer, no mocks
inside the client) and yields its endpoint URL; each test makes its own bucket.
"""
from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def moto_s3():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
