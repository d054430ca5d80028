"""Lambda entry point of the ``auth`` service: handler string ``runtime.handlers.auth.handler``."""
from runtime.handlers.adapter import lambda_handler

handler = lambda_handler("auth")
