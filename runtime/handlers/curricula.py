"""Lambda entry point of the ``curricula`` service: handler string ``runtime.handlers.curricula.handler``."""
from runtime.handlers.adapter import lambda_handler

handler = lambda_handler("curricula")
