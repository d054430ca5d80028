"""IMDS failing (5xx, hangs, refused connections, rejected tokens) never crashes the agent or fakes a notice."""
from __future__ import annotations

import httpx
import pytest

from gpu_nodes.agent.idle import Thresholds
from gpu_nodes.agent.imds import Imds
from gpu_peers import wait_for
from tests.runtime.conftest import free_port


@pytest.mark.parametrize("fault", ["500", "hang", "401", "garbage-token"])
def test_imds_faults_are_survived_and_a_later_notice_still_drains(make_agent, imds, core, fault):
    imds.fault = fault
    imds.hang_seconds = 1.0
    agent = make_agent(imds_timeout=0.3, thresholds=Thresholds(0.3, 5, 6, 7), poll_interval=0.05)
    wait_for(lambda: agent.imds_status["errors"] >= 2, 5)
    health = httpx.get(agent.health_url + "/health").json()
    assert health["imds"]["ok"] is False and health["imds"]["last_error"]
    assert health["draining"] is False and not core.of_type("drain")
    # The idle loop kept going meanwhile.
    wait_for(lambda: agent.idle.state == "WARM", 3)

    imds.fault = None
    imds.instance_action = {"action": "terminate", "time": "2026-11-26T01:02:00Z"}
    wait_for(lambda: core.of_type("drain"), 5)
    assert agent.imds_status["ok"] is True


def test_imds_unreachable_from_the_start(make_agent, core):
    dead = f"http://127.0.0.1:{free_port()}"  # a port nobody listens on
    agent = make_agent(imds=Imds(dead, timeout=0.3))
    wait_for(lambda: agent.imds_status["errors"] >= 3, 5)
    health = httpx.get(agent.health_url + "/health").json()
    assert health["draining"] is False and health["imds"]["ok"] is False
    assert health["instance_id"]  # falls back to the host name for display


def test_token_is_reused_then_refreshed_after_a_401(imds):
    client = Imds(imds.url, timeout=0.5)
    assert client.spot_instance_action() is None
    assert client.rebalance_recommendation() is None
    assert len(imds.tokens) == 1  # one token serves many reads
    imds.tokens.clear()  # IMDS forgot it (restart): the next read gets 401, takes a new token, succeeds
    assert client.instance_id() == imds.instance_id
    assert len(imds.tokens) == 1
    put = [r for r in imds.requests if r[0] == "PUT"]
    assert all(p == ("PUT", "/latest/api/token") for p in put)
