"""Placeholder for the voice service (its owner replaces this file with the real routes)."""
from runtime.services.base import Service

SERVICE = Service(name="voice", routes=[])
