"""Lambda entry point of the ``telemetry`` service: handler string ``runtime.handlers.telemetry.handler``."""
from runtime.handlers.adapter import lambda_handler

handler = lambda_handler("telemetry")
