"""``/api/plugins*``: the old management server's importer plugins, which the hosted runtime does not run.

Its importers were Python plugins loaded into the server process (scrapers for each course site, with
their own credentials and settings). A hosted, multi-tenant API does not load operator code into the
process; the import sources here are the catalogs the operator configures (``UNAMENTIS_IMPORT_CATALOGS``,
``runtime.importing.catalogs``). So the console's plugin panel gets a clear state: an empty plugin list,
no first-run setup, and 410 ``plugins_not_hosted`` (gone: the old API had it, this one does not) for every action on a plugin.
"""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from runtime.content.http import reply
from runtime.content.schemas import declare_gone
from runtime.errors import ApiError

MESSAGE = ("This server runs no importer plugins: import sources are course catalogs configured with "
           "UNAMENTIS_IMPORT_CATALOGS (see GET /api/import/sources).")


async def list_plugins(request: Request) -> Response:
    """No plugins, and nothing to set up on first run."""
    return reply({"success": True, "plugins": [], "first_run": False, "message": MESSAGE})


async def first_run(request: Request) -> Response:
    """Nothing to set up: there are no plugins to choose."""
    return reply({"success": True, "first_run": False, "plugins": [], "message": MESSAGE})


async def not_hosted(request: Request) -> Response:
    """Any action on a plugin: 410, with what to use instead."""
    raise ApiError(410, "plugins_not_hosted", MESSAGE, details={"plugin": request.path_params.get("plugin_id")})


declare_gone(not_hosted, "Always: importer plugins are not hosted")


ROUTES = [
    Route("/api/plugins", list_plugins, methods=["GET"]),
    Route("/api/plugins/first-run", first_run, methods=["GET"]),
    Route("/api/plugins/initialize", not_hosted, methods=["POST"]),
    Route("/api/plugins/{plugin_id}", not_hosted, methods=["GET", "PUT", "PATCH", "DELETE"]),
    Route("/api/plugins/{plugin_id}/{action:path}", not_hosted, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
]
