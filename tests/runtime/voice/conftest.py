"""Fixtures of the voice tests: ``peers`` = the loopback provider server (module-scoped)."""
from __future__ import annotations

import pytest

from .peers import Peers, ServerThread


@pytest.fixture(scope="module")
def peers():
    p = Peers()
    with ServerThread(p.app) as server:
        p.url = server.url
        yield p
