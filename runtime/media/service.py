"""The media service (core container only: it runs Graphviz and matplotlib): ``/api/media/*``."""
from __future__ import annotations

from runtime.media.routes import ROUTES
from runtime.service import Service

SERVICE = Service(name="media", routes=list(ROUTES), envelope_prefixes=("/api/media/",))
