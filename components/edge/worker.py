"""The edge router Worker's deployable pieces: its source and its bindings.

The source is `components/edge_worker/src/router.js` (tested in a real Workers runtime by
`components/edge_worker/test/`); the route table is embedded at deploy time as the `ROUTES`
JSON binding from `runtime.route_table.as_json_rules()`, so the Worker, the HTTP API routes and
the ALB listener rules all come from one list.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import pulumi

from runtime.route_table import as_json_rules

WORKER_DIR = Path(__file__).resolve().parents[1] / "edge_worker"
SOURCE_PATH = WORKER_DIR / "src" / "router.js"
MAIN_MODULE = "router.js"
# The Workers runtime behaviour the router was tested with (the npm workerd of package-lock.json).
COMPATIBILITY_DATE = "2026-04-01"


def source() -> str:
    return SOURCE_PATH.read_text(encoding="utf-8")


def routes_json() -> str:
    return json.dumps(as_json_rules(), separators=(",", ":"))


def bindings(lambda_origin: pulumi.Input[str], core_origin: pulumi.Input[str],
             origin_secret: pulumi.Input[str]) -> list[dict]:
    """`WorkersScript.bindings`: the route table, both origins and the origin secret.

    The secret is a `secret_text` binding: Cloudflare never shows it again and Pulumi keeps it
    encrypted in state.
    """
    return [
        {"name": "ROUTES", "type": "json", "json": routes_json()},
        {"name": "LAMBDA_ORIGIN", "type": "plain_text", "text": lambda_origin},
        {"name": "CORE_ORIGIN", "type": "plain_text", "text": core_origin},
        {"name": "ORIGIN_SECRET", "type": "secret_text", "text": pulumi.Output.secret(origin_secret)},
    ]


def script_name(name_prefix: str, suffix: Optional[str] = None) -> str:
    return f"{name_prefix}-edge-router" + (f"-{suffix}" if suffix else "")
