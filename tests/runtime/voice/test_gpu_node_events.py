"""GPU node agent → core: the real agent client posts to the real core over loopback HTTP.

A drain takes the node out of use at once (new turns go to the external provider; discovery skips
the node), state events are kept for the admin view, scale_to_zero shrinks the group; the route
needs the node token (not a Tier-1 token) and refuses bad input with a 4xx."""
from __future__ import annotations

import asyncio

import httpx

from gpu_nodes.agent.core import CoreClient
from runtime import events
from runtime.voice.config import VoiceSettings
from runtime.voice.core import voice_core
from runtime.voice.gpu import GpuFleet
from tests.runtime.conftest import make_client
from tests.runtime.voice.test_routing import _asg, _desired, _reply

NODE_TOKEN = "node-token-0123456789abcdef0123"
INSTANCE = "i-0123456789abcdef0"


async def _send(client: CoreClient, kind: str, payload: dict) -> bool:
    # The agent's client is synchronous (it runs in the agent's threads): keep the loop free.
    return await asyncio.to_thread(client.send, kind, payload)


async def test_agent_events_reach_the_core_and_a_drain_moves_turns_to_external(peers, make_app, live_server):
    vs = VoiceSettings(llm_provider="openai", llm_url=peers.url + "/v1", gpu_llm_url=peers.url,
                       gpu_node_token=NODE_TOKEN)
    app = make_app(["voice"], voice=vs)
    server = live_server(app)
    core = voice_core(app.state.ctx)
    router = core.router
    assert await core.gpu.is_warm()
    assert (await _reply(router)).startswith("You said hi.")
    assert peers.requests[-1][0] == "ollama_chat"  # the (fixed-URL) GPU node serves while warm

    agent = CoreClient(f"{server.url}/api/gpu", INSTANCE, token=NODE_TOKEN)
    assert await _send(agent, "state", {"from": "ACTIVE", "to": "WARM", "reason": "idle 5 min",
                                        "loaded_models": {"ollama": ["llama3.2"]}})
    assert core.gpu.snapshot()["node_states"][INSTANCE]["to"] == "WARM"

    assert await _send(agent, "drain", {"notice": {"kind": "spot-interruption", "action": "terminate"}})
    assert (await _reply(router)).startswith("You said hi.")
    assert peers.requests[-1][0] == "openai_chat"  # moved to the external provider at once
    core.gpu.checked_at = 0.0  # even after the next probe, the drained node stays out of use
    assert not await core.gpu.is_warm()
    assert core.gpu.snapshot()["draining"] == [INSTANCE]

    wrong = CoreClient(f"{server.url}/api/gpu", INSTANCE, token="not-the-node-token-0123456789")
    assert not await _send(wrong, "state", {"from": "WARM", "to": "COOL"})
    assert not await _send(CoreClient(f"{server.url}/api/gpu", INSTANCE), "state", {"to": "COOL"})
    assert core.gpu.snapshot()["node_states"][INSTANCE]["to"] == "WARM"  # refused events changed nothing


async def test_node_event_route_refuses_bad_input_and_is_off_without_a_token(make_app, tenant):
    _, beta_token = await tenant()
    vs = VoiceSettings(llm_provider="openai", llm_url="http://127.0.0.1:9/v1", gpu_node_token=NODE_TOKEN)
    node = {"Authorization": f"Bearer {NODE_TOKEN}"}
    url = f"/api/gpu/nodes/{INSTANCE}/events"
    async with make_client(make_app(["voice"], voice=vs)) as c:
        cases = [
            (url, {"type": "drain"}, {}, 401, "invalid_token"),
            (url, {"type": "drain"}, {"Authorization": f"Bearer {beta_token}"}, 401, "invalid_token"),
            ("/api/gpu/nodes/not-an-instance/events", {"type": "drain"}, node, 400, "invalid_instance_id"),
            (url, {"type": "reboot"}, node, 422, "invalid_field"),
            (url, {}, node, 400, "missing_field"),
            (url, {"type": "drain", "instance_id": "i-0fedcba9876543210"}, node, 400, "instance_mismatch"),
        ]
        for path, body, headers, status, code in cases:
            r = await c.post(path, json=body, headers=headers)
            assert r.status_code == status, (path, body, r.text)
            if code:
                assert r.json()["error"] == code, r.text
        r = await c.post(url, content=b"{not json", headers={**node, "Content-Type": "application/json"})
        assert r.status_code == 400
        r = await c.post(url, json={"type": "state", "to": "COOL", "instance_id": INSTANCE}, headers=node)
        assert r.status_code == 202 and r.json()["action"] == "recorded"
    off = VoiceSettings(llm_provider="openai", llm_url="http://127.0.0.1:9/v1")
    async with make_client(make_app(["voice"], voice=off)) as c:
        r = await c.post(url, json={"type": "drain"}, headers=node)
        assert r.status_code == 404 and "UNAMENTIS_GPU_NODE_TOKEN" in r.json()["message"]


async def test_drained_node_is_skipped_by_discovery_and_scale_to_zero_shrinks_the_group(moto_endpoint, monkeypatch):
    from aiobotocore.session import get_session

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    await _asg(moto_endpoint, "gpu-drain")
    async with get_session().create_client("autoscaling", region_name="us-east-1", endpoint_url=moto_endpoint) as asg:
        await asg.update_auto_scaling_group(AutoScalingGroupName="gpu-drain", MaxSize=2, DesiredCapacity=2)
    async with httpx.AsyncClient() as http:
        vs = VoiceSettings(llm_provider="openai", llm_url="http://127.0.0.1:9/v1", gpu_asg_name="gpu-drain",
                           aws_endpoint_url=moto_endpoint)
        fleet = GpuFleet(vs, http)
        first = await fleet.discover()
        in_use = fleet.instance_id
        assert first and in_use
        done = await fleet.node_event("i-00000000000000000", "drain", {})  # not the node in use
        assert done["action"] == "node_skipped_by_discovery" and await fleet.discover() == first
        fleet.address = first
        done = await fleet.node_event(in_use, "drain", {"notice": {"kind": "rebalance"}})
        assert done["action"] == "node_out_of_use" and fleet.address is None and fleet.checked_at == 0.0
        second = await fleet.discover()
        assert second and second != first and fleet.instance_id != in_use

        done = await fleet.node_event(fleet.instance_id, "scale_to_zero", {"idle_seconds": 3600})
        assert done == {"action": "desired_capacity_0", "error": None}
        assert await _desired(moto_endpoint, "gpu-drain") == 0


async def test_a_drain_posted_to_one_core_task_reaches_the_others_through_the_event_bus(peers, make_app):
    vs = VoiceSettings(llm_provider="openai", llm_url=peers.url + "/v1", gpu_llm_url=peers.url,
                       gpu_node_token=NODE_TOKEN)
    first, second = make_app(["voice"], voice=vs), make_app(["voice"], voice=vs)
    async with make_client(first) as a, make_client(second):
        other = voice_core(second.state.ctx)
        assert await other.gpu.is_warm()
        r = await a.post(f"/api/gpu/nodes/{INSTANCE}/events", headers={"Authorization": f"Bearer {NODE_TOKEN}"},
                         json={"type": "drain", "notice": {"kind": "spot-interruption", "action": "terminate",
                                                           "time": "2026-12-02T14:00:00Z"}})
        assert r.status_code == 202 and r.json()["action"] == "node_out_of_use"
        for _ in range(100):  # NOTIFY → the other task's listener: well under a second on loopback
            if INSTANCE in other.gpu.snapshot()["draining"]:
                break
            await asyncio.sleep(0.05)
        assert other.gpu.snapshot()["draining"] == [INSTANCE]
        assert not other.gpu.warm  # its next turns go to the external provider too
        # the receiving task got its own event back from the bus: nothing more happened there
        assert voice_core(first.state.ctx).gpu.snapshot()["draining"] == [INSTANCE]


async def test_a_task_serves_only_once_it_hears_drains_from_the_event_bus(peers, make_app, monkeypatch):
    """Its start waits for the bus: a drain posted the moment both tasks are up reaches the other one,
    even when the listener's connection is slow to open."""
    listen = events.EventBus._listen_pg

    async def slow_listen(self):
        await asyncio.sleep(0.5)
        await listen(self)

    monkeypatch.setattr(events.EventBus, "_listen_pg", slow_listen)
    vs = VoiceSettings(llm_provider="openai", llm_url=peers.url + "/v1", gpu_llm_url=peers.url,
                       gpu_node_token=NODE_TOKEN)
    first, second = make_app(["voice"], voice=vs), make_app(["voice"], voice=vs)
    async with make_client(first) as a, make_client(second):
        other = voice_core(second.state.ctx)
        r = await a.post(f"/api/gpu/nodes/{INSTANCE}/events", headers={"Authorization": f"Bearer {NODE_TOKEN}"},
                         json={"type": "drain"})
        assert r.status_code == 202 and r.json()["action"] == "node_out_of_use"
        for _ in range(40):
            if INSTANCE in other.gpu.snapshot()["draining"]:
                break
            await asyncio.sleep(0.05)
        assert other.gpu.snapshot()["draining"] == [INSTANCE]
