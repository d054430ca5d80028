"""Placeholder for the admin service (its owner replaces this file with the real routes)."""
from runtime.services.base import Service

SERVICE = Service(name="admin", routes=[])
