"""Idle management driven by what the model servers really did, with thresholds scaled down to seconds."""
from __future__ import annotations

import time

import httpx

from gpu_nodes.agent.idle import Action, IdleManager, InUse, Thresholds
from gpu_peers import wait_for

AUTH = {"Authorization": "Bearer node-token"}

FAST = Thresholds(warm=0.4, cool=0.8, cold=1.2, dormant=1.6)
LLM, LLM2 = "llama3.2:3b", "qwen2.5:7b"


def _use_everything(ollama, tts, stt) -> None:
    """What a tutoring turn does on the node: LLM tokens, TTS audio, STT transcription."""
    httpx.post(ollama.url + "/api/generate", json={"model": LLM, "prompt": "Explain photosynthesis."})
    httpx.post(ollama.url + "/api/generate", json={"model": LLM2, "prompt": "Quiz me."})
    httpx.post(tts.url + "/v1/audio/speech", json={"model": tts.model, "input": "Hello", "voice": "af_heart"})
    httpx.post(stt.url + "/v1/audio/transcriptions", content=b"audio")


def _states(core):
    return [e["to"] for e in core.of_type("state")]


def test_states_walk_down_and_each_unload_happens_exactly_once(make_agent, ollama, tts, stt, core):
    # The turn happens before the agent starts, so a slow machine cannot let the agent idle to WARM
    # between its start and the turn: the walk down below then starts from ACTIVE every time.
    _use_everything(ollama, tts, stt)
    agent = make_agent(thresholds=FAST, poll_interval=0.05)
    wait_for(lambda: len(agent.loaded_models.get("ollama", [])) == 2 and agent.loaded_models.get("stt"), 3)
    assert agent.idle.state == "ACTIVE"

    wait_for(lambda: agent.idle.state == "DORMANT", 5)
    wait_for(lambda: core.of_type("scale_to_zero"), 3)
    time.sleep(0.6)  # a dozen more ticks in DORMANT must not repeat anything

    assert _states(core) == ["WARM", "COOL", "COLD", "DORMANT"]
    assert ollama.unloads == {LLM: 1, LLM2: 1} and not ollama.loaded
    assert tts.unloads == {tts.model: 1} and stt.unloads == {stt.model: 1}
    assert len(core.of_type("scale_to_zero")) == 1
    assert core.of_type("scale_to_zero")[0]["idle_seconds"] >= FAST.dormant

    # Speech models go at COOL, the LLM only at COLD.
    entered = {e["to"]: e["at"] for e in agent.idle.history}
    done = {a["action"]: a["at"] for a in agent.idle.action_log if a["ok"]}
    assert list(done) == ["unload_speech_models", "unload_ollama_models", "scale_to_zero"]
    assert entered["COOL"] <= done["unload_speech_models"] and entered["COLD"] <= done["unload_ollama_models"]
    assert done["scale_to_zero"] >= entered["DORMANT"]

    health = httpx.get(agent.health_url + "/health").json()
    assert health["state"] == "DORMANT"
    assert health["loaded_models"] == {"ollama": [], "tts": [], "stt": []}
    assert health["idle"]["actions_done"] == ["scale_to_zero", "unload_ollama_models", "unload_speech_models"]


def test_real_inference_resets_to_active_and_a_new_idle_period_unloads_again(make_agent, ollama, tts, stt, core):
    # The turn happens before the agent starts, so a slow machine cannot let the agent idle to WARM
    # between its start and the turn: the walk down below then starts from ACTIVE every time.
    _use_everything(ollama, tts, stt)
    agent = make_agent(thresholds=FAST, poll_interval=0.05)
    wait_for(lambda: agent.idle.state == "COOL" and tts.unloads, 4)

    # A learner asks something: Ollama serves it, the agent sees the expiry move and wakes up.
    # (Only wake-ups after this request count: on a loaded machine the warm-up may have bounced once.)
    earlier = len([e for e in core.of_type("state") if e["to"] == "ACTIVE"])
    httpx.post(ollama.url + "/api/generate", json={"model": LLM, "prompt": "One more question"})
    wait_for(lambda: agent.idle.state == "ACTIVE", 2)
    wake = wait_for(lambda: [e for e in core.of_type("state") if e["to"] == "ACTIVE"][earlier:], 2)[0]
    assert wake["from"] in ("COOL", "COLD") and "ollama" in wake["reason"]
    assert agent.health()["last_activity_source"].startswith("ollama: ")

    # Next idle period: the TTS model a request loaded again is unloaded again, once.
    httpx.post(tts.url + "/v1/audio/speech", json={"model": tts.model, "input": "Hi"})
    wait_for(lambda: tts.unloads.get(tts.model) == 2, 4)
    time.sleep(0.3)
    assert tts.unloads[tts.model] == 2


def test_activity_reported_by_the_core_resets_to_active(make_agent, core):
    agent = make_agent(thresholds=FAST, poll_interval=0.05)
    wait_for(lambda: agent.idle.state == "COLD", 4)
    resp = httpx.post(agent.health_url + "/activity", json={"source": "llm-stream"}, headers=AUTH)
    assert resp.status_code == 200 and resp.json() == {"state": "ACTIVE"}
    assert agent.health()["last_activity_source"] == "core: llm-stream"
    assert agent.health()["idle"]["actions_done"] == []
    # No body is fine too (the core may just ping).
    assert httpx.post(agent.health_url + "/activity", headers=AUTH).status_code == 200


def test_a_model_in_use_is_not_unloaded_and_counts_as_activity(make_agent, ollama, tts, stt, core):
    tts.busy = True  # speaches answers 409 while a request holds the model
    # The turn happens before the agent starts, so a slow machine cannot let the agent idle to WARM
    # between its start and the turn: the walk down below then starts from ACTIVE every time.
    _use_everything(ollama, tts, stt)
    agent = make_agent(thresholds=FAST, poll_interval=0.05)
    wait_for(lambda: any(e["to"] == "ACTIVE" and "is using" in e["reason"] for e in core.of_type("state")), 4)
    time.sleep(0.5)
    assert tts.unloads == {} and ollama.unloads == {}
    assert not core.of_type("scale_to_zero")
    assert agent.idle.state in ("ACTIVE", "WARM", "COOL")


def test_scale_to_zero_is_retried_until_the_core_acknowledges_then_sent_once(make_agent, core):
    core.status = 503
    agent = make_agent(thresholds=FAST, poll_interval=0.05)
    wait_for(lambda: agent.idle.state == "DORMANT", 5)
    wait_for(lambda: [a for a in agent.idle.action_log if a["action"] == "scale_to_zero" and not a["ok"]], 2)
    core.status = 200
    wait_for(lambda: core.of_type("scale_to_zero"), 2)
    time.sleep(0.4)
    assert len(core.of_type("scale_to_zero")) == 1


def test_dormant_action_asg_terminates_itself_decrementing_desired_capacity(make_agent, autoscaling, imds):
    agent = make_agent(thresholds=FAST, poll_interval=0.05, dormant_action="asg")
    wait_for(lambda: autoscaling.calls, 5)
    time.sleep(0.3)
    assert len(autoscaling.calls) == 1
    call = autoscaling.calls[0]
    assert call["Action"] == "TerminateInstanceInAutoScalingGroup"
    assert call["InstanceId"] == imds.instance_id and call["ShouldDecrementDesiredCapacity"] == "true"
    assert agent.idle.state == "DORMANT"


def test_performance_mode_never_leaves_active(make_agent, ollama, tts, stt, core):
    agent = make_agent(thresholds=None, poll_interval=0.05)
    _use_everything(ollama, tts, stt)
    time.sleep(1.0)
    assert agent.idle.state == "ACTIVE" and not core.of_type("state")
    assert ollama.unloads == {} and tts.unloads == {}
    assert agent.health()["idle"]["enabled"] is False


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_idle_manager_runs_each_state_action_on_entry_once_per_idle_period():
    """The state machine alone, on a hand-moved clock: no threads, no timing."""
    clock, ran, events = _Clock(), [], []
    actions = [Action(name, state, (lambda n=name: ran.append(n))) for name, state in
               (("speech", "COOL"), ("llm", "COLD"), ("scale", "DORMANT"))]
    idle = IdleManager(Thresholds(10, 20, 30, 40), actions, clock=clock, on_transition=events.append)
    for t, state, expect in ((9, "ACTIVE", []), (10, "WARM", []), (25, "COOL", ["speech"]),
                             (29, "COOL", ["speech"]), (30, "COLD", ["speech", "llm"]),
                             (100, "DORMANT", ["speech", "llm", "scale"]), (200, "DORMANT", ["speech", "llm", "scale"])):
        clock.now = 1000 + t
        idle.tick()
        assert (idle.state, ran) == (state, expect), t
    assert [e["to"] for e in events] == ["WARM", "COOL", "COLD", "DORMANT"]

    idle.record_activity("test")
    assert idle.state == "ACTIVE" and events[-1]["to"] == "ACTIVE"
    clock.now += 45  # one late tick: every state is still reported, every action runs, in order
    idle.tick()
    assert ran == ["speech", "llm", "scale", "speech", "llm", "scale"]
    assert [e["to"] for e in events][-4:] == ["WARM", "COOL", "COLD", "DORMANT"]


def test_idle_manager_retries_a_failed_action_and_treats_in_use_as_activity():
    clock, attempts = _Clock(), []

    def flaky():
        attempts.append(clock.now)
        if len(attempts) == 1:
            raise RuntimeError("server restarting")

    def busy():
        raise InUse("tts is using kokoro")

    idle = IdleManager(Thresholds(1, 2, 3, 4), [Action("flaky", "COOL", flaky)], clock=clock)
    clock.now += 2
    idle.tick()
    idle.tick()
    idle.tick()
    assert len(attempts) == 2 and idle.snapshot()["actions_done"] == ["flaky"]

    idle = IdleManager(Thresholds(1, 2, 3, 4), [Action("busy", "COOL", busy)], clock=clock)
    clock.now += 2.5
    idle.tick()
    assert idle.state == "ACTIVE" and idle.snapshot()["last_activity_source"] == "tts is using kokoro"


def test_idle_manager_takes_the_cores_mode_keep_awake_and_forced_state():
    now = [1000.0]
    manager = IdleManager(Thresholds(10, 20, 30, 40), clock=lambda: now[0])
    manager.force("COLD")
    manager.tick()
    assert manager.state == "COLD"
    manager.keep_awake(100)
    now[0] += 60  # past every threshold, but inside the keep-awake window
    manager.tick()
    assert manager.state == "ACTIVE" and manager.snapshot()["keep_awake_remaining"] == 40
    now[0] += 50  # ten seconds after the window: WARM, counted from its end
    manager.tick()
    assert manager.state == "WARM"
    manager.set_thresholds(Thresholds(100, 200, 300, 400))
    manager.force("ACTIVE")
    now[0] += 150
    manager.tick()
    assert manager.state == "WARM"
    manager.set_thresholds(None)
    try:
        manager.force("DORMANT")
    except ValueError as exc:
        assert "off" in str(exc)
    else:
        raise AssertionError("forcing an idle state with idle management off must fail")


def test_post_idle_applies_the_consoles_settings_over_http(make_agent):
    agent = make_agent(thresholds=Thresholds(60, 120, 180, 240))
    base = agent.health_url
    assert httpx.post(base + "/idle", json={"state": "cool"}).status_code == 401
    forced = httpx.post(base + "/idle", json={"state": "cool"}, headers=AUTH)
    assert forced.status_code == 200, forced.text
    wait_for(lambda: agent.idle.state == "COOL", 3)
    mode = httpx.post(base + "/idle", headers=AUTH, json={"mode": "power_saver", "thresholds": {
        "warm": 10, "cool": 60, "cold": 300, "dormant": 1800}}).json()
    assert mode["idle"]["mode"] == "power_saver" and mode["idle"]["thresholds"]["cold"] == 300
    awake = httpx.post(base + "/idle", headers=AUTH, json={"keep_awake_seconds": 600}).json()
    assert awake["state"] == "ACTIVE" and 590 < awake["idle"]["keep_awake_remaining"] <= 600
    assert httpx.get(base + "/health").json()["idle"]["keep_awake_remaining"] > 0
    for bad in ({"state": "nap"}, {"thresholds": {"warm": 5}}, {"thresholds": {"warm": 50, "cool": 10, "cold": 20,
                                                                                "dormant": 30}},
                {"keep_awake_seconds": -1}, ["list"]):
        assert httpx.post(base + "/idle", json=bad, headers=AUTH).status_code == 400, bad
    off = httpx.post(base + "/idle", headers=AUTH, json={"mode": "performance", "thresholds": None}).json()
    assert off["idle"]["enabled"] is False
