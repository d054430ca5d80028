"""Client-contract tests: each shipped app's calls, sent as that app sends them, answers checked
against JSON Schemas written from that app's own decoders.

The runtime fixtures (a migrated database with its own runtime role, ``make_app``, ``tenant``,
``live_server`` …) are the same as the runtime tests'; see ``tests/runtime/conftest.py``.
"""
from tests.runtime.conftest import (  # noqa: F401  (fixtures are registered by name)
    client,
    database,
    live_server,
    make_app,
    moto_endpoint,
    settings,
    shared_database,
    tenant,
)
