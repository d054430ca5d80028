"""Lambda entry point of the ``kb`` service: handler string ``runtime.handlers.kb.handler``."""
from runtime.handlers.adapter import lambda_handler

handler = lambda_handler("kb")
