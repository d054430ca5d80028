"""The API description (``GET /api/openapi.json``), derived from what the runtime itself runs.

- ``request_bodies``: an endpoint's request body, read off its calls to the ``runtime.validation``
  readers (the same calls that accept or refuse a request).
- ``responses``: the answer schemas, from the apps' decoder schemas (``runtime/api_schemas``) and, where
  no app decodes a route, from answers recorded while the tests ran (``runtime/api_schemas/answers.json``).
"""
