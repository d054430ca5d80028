"""Lambda entry point of the ``sessions`` service: handler string ``runtime.handlers.sessions.handler``."""
from runtime.handlers.adapter import lambda_handler

handler = lambda_handler("sessions")
