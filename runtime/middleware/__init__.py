"""Pure-ASGI middleware of the runtime (never BaseHTTPMiddleware: it breaks contextvars).

Order, outermost first (``runtime.app.build_middleware``):
  request_log   request id, JSON access log, last-resort 500
  origin        Tier 3: the origin secret (403), then the client IP from CF-Connecting-IP
  cors          allowlisted origins, preflight; headers on every response incl. errors
  errors        exceptions from anything inside (auth, limits, routes) → 500/503 in the error format
  client        X-Client-* headers; below the configured minimum version → 426
  body_limit    413 past the request's body limit (1 MiB unless the route raises it)
  auth          Tier 1 / Tier 2 by path, the principal, default rate limits (429)
"""
