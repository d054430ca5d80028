"""A notice appears while the agent runs: drain, tell the core, stop accepting, complete the hook."""
from __future__ import annotations

import time

import httpx

from gpu_peers import wait_for

AUTH = {"Authorization": "Bearer node-token"}
NO_ACTION = "No active Lifecycle Action found with instance ID i-0abc1234def567890"


def test_spot_interruption_mid_run_drains_and_calls_back_within_5s(make_agent, imds, core, autoscaling, ollama, tmp_path):
    marker = tmp_path / "stopped-accepting"
    agent = make_agent(drain_command=f"echo drained > {marker}")
    wait_for(lambda: agent.imds_status["last_poll"], 3)  # polling, no notice yet
    assert not core.of_type("drain") and not agent.draining
    assert httpx.get(agent.health_url + "/ready").status_code == 200

    t0 = time.monotonic()
    imds.instance_action = {"action": "terminate", "time": "2026-11-26T01:02:00Z"}
    drain = wait_for(lambda: core.of_type("drain"), 5)[0]
    assert drain["_received"] - t0 < 5.0
    assert drain["instance_id"] == drain["_path_instance"] == imds.instance_id
    assert drain["notice"] == {"kind": "spot-interruption", "action": "terminate", "time": "2026-11-26T01:02:00Z"}

    # Stopped accepting: the drain command ran, readiness is off and reported work is refused.
    wait_for(marker.exists, 5)
    ready = httpx.get(agent.health_url + "/ready")
    assert ready.status_code == 503 and ready.json()["reason"] == "draining"
    refused = httpx.post(agent.health_url + "/activity", json={"source": "tts"}, headers=AUTH)
    assert refused.status_code == 409

    # Lifecycle completed through the Auto Scaling API, signed with the instance profile's keys.
    wait_for(lambda: autoscaling.calls, 5)
    call = autoscaling.calls[0]
    assert call["Action"] == "CompleteLifecycleAction" and call["Version"] == "2011-01-01"
    assert call["AutoScalingGroupName"] == "unamentis-beta-gpu"
    assert call["LifecycleHookName"] == "unamentis-beta-gpu-drain"
    assert call["InstanceId"] == imds.instance_id and call["LifecycleActionResult"] == "CONTINUE"
    assert call["_security_token"] == "imds-session-token"
    assert "x-amz-security-token" in autoscaling.signed_headers
    wait_for(lambda: agent.drain.get("finished_at"), 5)
    health = httpx.get(agent.health_url + "/health").json()
    assert health["draining"] is True and health["accepting"] is False
    assert health["drain"]["lifecycle"] == "completed" and health["drain"]["core_acknowledged"] is True
    # Exactly one drain, one completion, however long the notice stays up.
    time.sleep(0.5)
    assert len(core.of_type("drain")) == 1 and len(autoscaling.calls) == 1


def test_drain_waits_for_inflight_inference_before_completing(make_agent, imds, core, autoscaling, ollama):
    agent = make_agent(drain_quiet=1.5)
    httpx.post(ollama.url + "/api/generate", json={"model": "llama3.2:3b", "prompt": "hi"})
    wait_for(lambda: agent.loaded_models.get("ollama"), 3)
    imds.instance_action = {"action": "terminate", "time": "2026-11-26T01:02:00Z"}
    wait_for(lambda: core.of_type("drain"), 5)
    # A learner's last sentence is still being generated: keep the node until the servers go quiet.
    for _ in range(4):
        httpx.post(ollama.url + "/api/generate", json={"model": "llama3.2:3b", "prompt": "and then?"})
        time.sleep(0.25)
        assert not autoscaling.calls, "lifecycle completed while inference was still running"
    wait_for(lambda: autoscaling.calls, 5)
    assert agent.drain["quiet"] is True


def test_rebalance_recommendation_retries_completion_until_the_hook_is_active(make_agent, imds, core, autoscaling):
    autoscaling.fail_next = [("CompleteLifecycleAction", "ValidationError", NO_ACTION)] * 2
    agent = make_agent()
    imds.rebalance = {"noticeTime": "2026-11-26T01:00:00Z"}
    drain = wait_for(lambda: core.of_type("drain"), 5)[0]
    assert drain["notice"]["kind"] == "rebalance-recommendation"
    wait_for(lambda: agent.drain.get("lifecycle") == "completed", 5)
    assert [c["Action"] for c in autoscaling.calls] == ["CompleteLifecycleAction"] * 3


def test_a_rebalanced_node_the_asg_never_replaces_removes_itself(make_agent, imds, core, autoscaling):
    autoscaling.fail_next = [("CompleteLifecycleAction", "ValidationError", NO_ACTION)] * 20
    agent = make_agent(rebalance_grace=0.5)
    imds.rebalance = {"noticeTime": "2026-11-26T01:00:00Z"}
    wait_for(lambda: agent.drain.get("terminated") is True, 6)
    autoscaling.fail_next.clear()  # terminating put the node into Terminating:Wait: the hook is open now
    wait_for(lambda: agent.drain.get("lifecycle") == "completed", 6)
    actions = [c["Action"] for c in autoscaling.calls]
    terminate = actions.index("TerminateInstanceInAutoScalingGroup")
    assert set(actions[:terminate]) == {"CompleteLifecycleAction"} and actions[-1] == "CompleteLifecycleAction"
    assert autoscaling.calls[terminate]["ShouldDecrementDesiredCapacity"] == "true"


def test_scale_in_by_the_asg_drains_too(make_agent, imds, core, autoscaling):
    make_agent()
    imds.lifecycle_state = "Terminated"
    drain = wait_for(lambda: core.of_type("drain"), 5)[0]
    assert drain["notice"]["kind"] == "scale-in"
    wait_for(lambda: autoscaling.calls, 5)


def test_core_down_at_the_notice_is_retried_until_it_acknowledges(make_agent, imds, core, autoscaling):
    core.status = 503
    agent = make_agent(drain_timeout=20.0)
    imds.instance_action = {"action": "stop", "time": "2026-11-26T01:02:00Z"}
    wait_for(lambda: agent.draining, 5)
    time.sleep(0.5)
    assert not autoscaling.calls, "completed the hook before the core knew to route elsewhere"
    core.status = 200
    drain = wait_for(lambda: core.of_type("drain"), 5)[0]
    assert drain["notice"]["action"] == "stop"
    wait_for(lambda: autoscaling.calls, 5)
    assert agent.drain["core_acknowledged"] is True


def test_unreadable_notice_body_still_drains(make_agent, imds, core):
    make_agent()
    imds.instance_action = "not json"  # IMDS answered 200: AWS has a notice even if we cannot read it
    drain = wait_for(lambda: core.of_type("drain"), 5)[0]
    assert drain["notice"]["kind"] == "spot-interruption"


def test_max_lifetime_drains_then_removes_the_node_from_the_asg(make_agent, imds, core, autoscaling):
    agent = make_agent(max_lifetime=0.5)
    drain = wait_for(lambda: core.of_type("drain"), 5)[0]
    assert drain["notice"]["kind"] == "max-lifetime"
    wait_for(lambda: len(autoscaling.calls) == 2, 5)
    terminate, complete = autoscaling.calls
    assert terminate["Action"] == "TerminateInstanceInAutoScalingGroup"
    assert terminate["ShouldDecrementDesiredCapacity"] == "true" and terminate["InstanceId"] == imds.instance_id
    assert complete["Action"] == "CompleteLifecycleAction"
    assert agent.drain["terminated"] is True


def test_core_behind_cloudflare_access_gets_the_service_token(make_agent, imds, core):
    from gpu_nodes.agent.core import CoreClient

    core.access = ("0123abcd.access", "access-secret")
    make_agent(core=CoreClient(core.url, "unknown", token="node-token", access_client=core.access, timeout=1.0))
    imds.instance_action = {"action": "terminate", "time": "2026-11-26T01:02:00Z"}
    assert wait_for(lambda: core.of_type("drain"), 5)[0]["notice"]["kind"] == "spot-interruption"
