"""Placeholder for the sessions service (its owner replaces this file with the real routes)."""
from runtime.services.base import Service

SERVICE = Service(name="sessions", routes=[])
