"""Placeholder for the auth service (its owner replaces this file with the real routes)."""
from runtime.services.base import Service

SERVICE = Service(name="auth", routes=[])
