"""Pure-ASGI middleware of the runtime (never BaseHTTPMiddleware: it breaks contextvars).

Two layers, outermost first (``runtime.app.build_middleware``):
  request   one pass per request, in this order: request id + JSON access line + last-resort 500,
            Tier 3 origin secret (403) and the client IP, CORS (preflight; headers on every later
            response incl. errors), errors (exceptions from auth, limits, the router, routes → the
            error format: the app's only exception layer for HTTP), X-Client-* headers (below the
            minimum version → 426), body limit (413)
  auth      Tier 1 / Tier 2 by path, the principal, default rate limits (429), and on the console
            listener the audit row of every request
"""
