"""Lambda entry point of the ``models`` service: handler string ``runtime.handlers.models.handler``."""
from runtime.handlers.adapter import lambda_handler

handler = lambda_handler("models")
