"""Lambda entry point of the ``admin`` service: handler string ``runtime.handlers.admin.handler``."""
from runtime.handlers.adapter import lambda_handler

handler = lambda_handler("admin")
