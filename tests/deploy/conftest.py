"""Fixtures of the deploy tests: the loopback moto server (S3 stand-in for MinIO) of the runtime tests."""
from tests.runtime.conftest import moto_endpoint  # noqa: F401  (a fixture, registered by import)
