"""The real runtime as the router's upstream: `python runtime_origin.py <origin secret>`.

Serves runtime.app's health service (no database needed) with the origin-secret middleware
on a free loopback port, prints the port on the first line of stdout, and runs until killed.
"""
import socket
import sys

import uvicorn

from runtime.app import create_app
from runtime.settings import Settings

app = create_app(["health"], Settings.from_env({"UNAMENTIS_ORIGIN_SECRET": sys.argv[1]}))
sock = socket.socket()
sock.bind(("127.0.0.1", 0))
sock.listen(64)
print(sock.getsockname()[1], flush=True)
uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on")).run(sockets=[sock])
