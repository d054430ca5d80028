"""Tenant isolation fails closed: a runtime role that can read across tenants stops the process.

RLS binds only a role that is neither a superuser, nor BYPASSRLS, nor the tables' owner. Outside
``UNAMENTIS_ENV=dev`` such a role refuses the start (``serve`` exits 2, a Lambda's INIT fails, the
app's lifespan aborts), unless ``UNAMENTIS_INSECURE_ALLOW_RLS_BYPASS=true`` says on purpose that
tenants may see each other's rows (a single-tenant test box); then it is logged on every start.
"""
from __future__ import annotations

import logging

from runtime.db import Database
from runtime.settings import ConfigError, Settings

log = logging.getLogger("unamentis.app")


class IsolationError(ConfigError):
    """The runtime role bypasses row-level security and nothing allows that."""


def bypass_allowed(settings: Settings) -> bool:
    return settings.environment == "dev" or settings.insecure_allow_rls_bypass


async def enforce_isolation(db: Database, settings: Settings) -> list[str]:
    """The role's problems (logged) when allowed; raises ``IsolationError`` when not. May raise
    ``DatabaseUnavailable``: the caller decides whether an unreachable database stops the start."""
    problems = await db.role_problems()
    if not problems:
        return []
    summary = "; ".join(problems)
    if not bypass_allowed(settings):
        raise IsolationError(
            f"TENANT ISOLATION IS NOT ENFORCED: {summary}. Fix: point DATABASE_URL at the runtime role "
            f"({settings.app_role}, which `python -m runtime migrate` creates) and UNAMENTIS_DATABASE_ADMIN_URL at "
            "the owner; only on a machine whose data may mix across tenants, set UNAMENTIS_INSECURE_ALLOW_RLS_BYPASS=true"
        )
    for problem in problems:
        log.error(
            "TENANT ISOLATION IS NOT ENFORCED: %s; point DATABASE_URL at the runtime role (UNAMENTIS_APP_ROLE) "
            "and UNAMENTIS_DATABASE_ADMIN_URL at the owner",
            problem,
        )
    return problems
