"""Shared fixtures of the Pulumi (infra) tests: run a whole stack under the recording mocks.

`stack_run(stack, overrides=None)` runs `__main__.py` for `Pulumi.<stack>.yaml` (with full
config keys in `overrides` replaced; None removes a key) and returns a `plan.PlanRun`
(`.recording`, `.config`, `.outputs`). Results are cached per (stack, overrides) for the
session: a run is pure (deterministic mocks, no network), so sharing it is safe.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from components import plan

ROOT = Path(__file__).resolve().parents[2]
STACKS = ("beta", "prod", "customer")

_cache: dict[str, plan.PlanRun] = {}


def run_stack(stack: str, overrides: dict | None = None) -> plan.PlanRun:
    key = json.dumps([stack, overrides or {}], sort_keys=True)
    if key not in _cache:
        _cache[key] = plan.run_program(stack, overrides=overrides)
    return _cache[key]


@pytest.fixture
def stack_run():
    return run_stack


@pytest.fixture(params=STACKS)
def any_stack(request) -> plan.PlanRun:
    return run_stack(request.param)
