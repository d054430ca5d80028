"""User accounts over HTTP (``/api/auth/*``: register, login, refresh, logout, profile, devices,
password): the ``auth`` service's routes. The checks they build on (tokens, passwords, the
authenticator, the account store) are ``runtime.auth``, which sits below the app context."""
