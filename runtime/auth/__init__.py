"""Authentication of the runtime: who is calling and may they.

Modules (explicit wiring, no registry):
  principal      the Principal dataclass and ``principal(request)``
  passwords      argon2id hashing and the password rules
  tokens         HS256 access JWTs, opaque beta/refresh tokens and their hashes
  access         Cloudflare Access JWT verification (RS256 against the team's JWKS)
  store          the SQL auth needs (users, devices, sessions, refresh families, beta tokens)
  authenticator  ``Authenticator.client(token)`` (Tier 1) and ``.admin(headers)`` (Tier 2)
  cli            ``admin token issue|revoke`` and ``admin user promote``
The HTTP routes live in ``runtime/accounts/routes.py``.
"""
