"""Tier-2 administration (``/api/admin/*``: tenants, beta tokens, users, usage, budgets, system
content): the ``admin`` service."""
