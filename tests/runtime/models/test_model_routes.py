"""The model routes against a loopback Ollama (tests/runtime/models/ollama_peer.py) as the GPU fleet's
server: the list with loaded state, load/unload/pull/unload-all (administrators only), per-model
parameters and the tenant's settings (validated, per tenant), capabilities."""
from __future__ import annotations

import json

import pytest

from runtime.storage import StorageConfig
from runtime.voice.config import VoiceSettings
from tests.runtime.conftest import free_port, make_client
from tests.runtime.content.conftest import JWT_SECRET, bearer, sign_in_admin
from tests.runtime.models.ollama_peer import OllamaPeer

ANDROID = {"X-Client-Platform": "Android", "X-Client-Version": "1.0.0"}


def closed_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def models_app(make_app, tmp_path):
    def factory(voice: VoiceSettings):
        return make_app(["auth", "models"], storage=StorageConfig(url=f"file://{tmp_path / 'storage'}"), jwt_secret=JWT_SECRET,
                        rate_limit_token=(100_000, 60.0), rate_limit_ip=(100_000, 60.0),
                        rate_limit_user=(100_000, 60.0), rate_limit_login=(1000, 60.0), voice=voice)
    return factory


@pytest.fixture
def peer(live_server):
    ollama = OllamaPeer()
    ollama.url = live_server(ollama.app).url
    return ollama


def fleet(peer, **kw) -> VoiceSettings:
    """The fake Ollama as a fixed GPU box; the configured LLM is a local Ollama that is not running."""
    return VoiceSettings(gpu_llm_url=peer.url, llm_provider="ollama", llm_url=closed_url(), llm_model="llama3.2:3b", **kw)


async def test_list_shows_the_fleets_models_with_loaded_state_and_types(models_app, tenant, peer, database):
    tid, beta = await tenant()
    async with make_client(models_app(fleet(peer))) as c:
        admin = bearer(await sign_in_admin(c, database, tid, beta))
        listed = (await c.get("/api/models", headers=bearer(beta))).json()
        llm = [m for m in listed["models"] if m["type"] == "llm"]
        assert [(m["id"], m["server_id"], m["status"]) for m in llm] == [
            ("llama3.2:3b", "gpu", "available"), ("qwen2.5:0.5b", "gpu", "available")]
        assert llm[0]["size_bytes"] == 2 * 1024 ** 3 and llm[0]["parameter_size"] == "3.2B"
        assert listed["total"] == len(listed["models"]) and sum(listed["by_type"].values()) == listed["total"]
        assert listed["by_type"]["llm"] == 2 and listed["gpu"] == {"configured": True, "warm": True}
        # no null where the console's types want a string or a number
        assert all(v is not None for m in listed["models"] for k, v in m.items() if k != "fallback_model")

        r = await c.post("/api/models/llama3.2:3b/load", json={"keep_alive": "30m"}, headers=admin)
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "ok" and r.json()["vram_bytes"] > 0 and peer.keep_alive["llama3.2:3b"] == "30m"
        listed = (await c.get("/api/models", headers=bearer(beta))).json()
        assert {m["id"]: m["status"] for m in listed["models"] if m["type"] == "llm"}["llama3.2:3b"] == "loaded"
        assert listed["loaded_vram_gb"] > 0

        android = (await c.get("/api/models", headers={**bearer(beta), **ANDROID})).json()
        assert isinstance(android, list) and android[0]["status"] == "loaded"


async def test_load_unload_pull_and_unload_all_are_for_administrators(models_app, tenant, peer, database):
    tid, beta = await tenant()
    async with make_client(models_app(fleet(peer))) as c:
        admin = bearer(await sign_in_admin(c, database, tid, beta))
        for method, path, body in (("POST", "/api/models/llama3.2:3b/load", {}), ("POST", "/api/models/llama3.2:3b/unload", None),
                                   ("POST", "/api/models/pull", {"model": "phi3"}), ("POST", "/api/system/unload-models", None)):
            r = await c.request(method, path, json=body, headers=bearer(beta))
            assert r.status_code == 403, (path, r.text)
        assert not peer.loaded and "phi3" not in peer.installed

        # load with the tenant's keep_alive, then unload; the id may name the server (gpu:<model>)
        assert (await c.put("/api/models/config", json={"keep_alive": "15m"}, headers=admin)).status_code == 200
        assert (await c.post("/api/models/gpu:llama3.2:3b/load", headers=admin)).json()["model"] == "llama3.2:3b"
        assert peer.keep_alive["llama3.2:3b"] == "15m"
        r = await c.post("/api/models/llama3.2:3b/unload", headers=admin)
        assert r.json()["freed_vram_bytes"] > 0 and not peer.loaded
        again = (await c.post("/api/models/llama3.2:3b/unload", headers=admin)).json()
        assert again["freed_vram_bytes"] == 0 and "not loaded" in again["message"]
        # Android reads the model itself
        r = await c.post("/api/models/qwen2.5:0.5b/load", content=b"", headers={**admin, **ANDROID,
                                                                               "Content-Type": "application/json"})
        assert r.status_code == 200 and r.json()["status"] == "loaded" and r.json()["id"] == "qwen2.5:0.5b"

        assert (await c.post("/api/models/nope:1b/load", headers=admin)).status_code == 404
        assert (await c.post("/api/models/llama3.2:3b/load", json={"keep_alive": "soon"}, headers=admin)).status_code == 422
        assert (await c.post("/api/models/x/load", json={"server_id": "elsewhere"}, headers=admin)).status_code == 422

        # pull: the console reads server-sent events, Android one ModelInfo at the end
        r = await c.post("/api/models/pull", json={"model": "phi3:mini"}, headers=admin)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = [json.loads(line[6:]) for line in r.text.splitlines() if line.startswith("data: ")]
        assert events[0]["status"] == "pulling manifest" and events[-1]["status"] == "success"
        assert any(e["total"] and e["completed"] == e["total"] for e in events)
        assert all(isinstance(e["completed"], int) and isinstance(e["total"], int) for e in events)
        assert "phi3:mini" in peer.installed
        r = await c.post("/api/models/pull", json={"model_id": "gemma2:2b"}, headers={**admin, **ANDROID})
        assert r.status_code == 200 and r.json()["id"] == "gemma2:2b" and "gemma2:2b" in peer.installed
        r = await c.post("/api/models/pull", json={"model": "missing-model"}, headers=admin)
        assert json.loads(r.text.strip().splitlines()[-1][6:])["status"] == "error"
        assert (await c.post("/api/models/pull", json={"model_id": "missing-x"}, headers={**admin, **ANDROID})).status_code == 502
        assert (await c.post("/api/models/pull", json={"model": "bad name"}, headers=admin)).status_code == 422
        assert (await c.post("/api/models/pull", json={}, headers=admin)).status_code == 400

        await c.post("/api/models/llama3.2:3b/load", headers=admin)
        r = await c.post("/api/system/unload-models", headers=admin)
        # the configured local Ollama is not running: it says so
        assert r.json()["status"] == "partial" and r.json()["results"] == {"gpu": True, "ollama": False}
        assert set(r.json()["unloaded"]["gpu"]) == {"llama3.2:3b", "qwen2.5:0.5b"} and not peer.loaded


async def test_without_a_reachable_server_the_controls_say_why(models_app, tenant, database):
    tid, beta = await tenant()
    unconfigured = VoiceSettings(llm_provider="groq", llm_api_key="k", llm_url=closed_url() + "/v1")
    async with make_client(models_app(unconfigured)) as c:
        admin = bearer(await sign_in_admin(c, database, tid, beta))
        r = await c.post("/api/models/llama3.2/load", headers=admin)
        assert r.status_code == 409 and r.json()["error"] == "no_model_server"
        assert (await c.post("/api/system/unload-models", headers=admin)).json() == {"status": "ok", "results": {}, "unloaded": {}}
    cold = VoiceSettings(gpu_llm_url=closed_url(), llm_provider="groq", llm_api_key="k", llm_url=closed_url() + "/v1")
    async with make_client(models_app(cold)) as c:
        admin = bearer(await sign_in_admin(c, database, tid, beta))
        r = await c.post("/api/models/pull", json={"model": "phi3"}, headers=admin)
        assert r.status_code == 503 and r.json()["error"] == "gpu_unreachable" and r.headers["retry-after"]
        listed = (await c.get("/api/models", headers=admin)).json()
        assert listed["gpu"] == {"configured": True, "warm": False}
        assert [m["status"] for m in listed["models"] if m["type"] == "llm"] == ["unavailable"]


async def test_parameters_are_per_model_per_tenant_and_validated(models_app, tenant, peer):
    _tid, beta = await tenant()
    _tid2, other = await tenant()
    async with make_client(models_app(fleet(peer))) as c:
        got = (await c.get("/api/models/llama3.2:3b/parameters", headers=bearer(beta))).json()
        assert got["status"] == "ok" and got["model"] == "llama3.2:3b"
        assert set(got["parameters"]) == {"num_ctx", "temperature", "top_p", "top_k", "repeat_penalty", "seed"}
        assert got["parameters"]["num_ctx"]["max"] == 131072 and got["model_info"]["context_window"] == 131072
        assert got["parameters"]["temperature"]["value"] == 0.7  # the deployment's UNAMENTIS_LLM_TEMPERATURE

        r = await c.post("/api/models/llama3.2:3b/parameters", json={"parameters": {"temperature": 0.3, "num_ctx": 8192}},
                         headers=bearer(beta))
        assert r.status_code == 200 and r.json()["parameters"]["num_ctx"] == 8192 and r.json()["parameters"]["top_k"] == 40
        assert (await c.get("/api/models/llama3.2:3b/parameters", headers=bearer(beta))).json()["parameters"]["temperature"]["value"] == 0.3
        # another model, another tenant: untouched
        assert (await c.get("/api/models/qwen2.5:0.5b/parameters", headers=bearer(beta))).json()["parameters"]["num_ctx"]["value"] == 4096
        assert (await c.get("/api/models/llama3.2:3b/parameters", headers=bearer(other))).json()["parameters"]["temperature"]["value"] == 0.7
        # the tenant's temperature is the default of models without their own
        await c.put("/api/models/config", json={"temperature": 0.2}, headers=bearer(beta))
        assert (await c.get("/api/models/qwen2.5:0.5b/parameters", headers=bearer(beta))).json()["parameters"]["temperature"]["value"] == 0.2

        for bad in ({"parameters": {"temperature": 2.5}}, {"parameters": {"top_k": 0}}, {"parameters": {"seed": 1.5}},
                    {"parameters": {"num_ctx": "big"}}, {"parameters": {"colour": 1}}, {"parameters": []},
                    {"parameters": {"top_p": True}}):
            r = await c.post("/api/models/llama3.2:3b/parameters", json=bad, headers=bearer(beta))
            assert r.status_code == 422, (bad, r.text)
        assert (await c.get("/api/models/bad%20id/parameters", headers=bearer(beta))).status_code == 400


async def test_config_in_both_shapes(models_app, tenant, peer):
    _tid, beta = await tenant()
    async with make_client(models_app(fleet(peer))) as c:
        got = (await c.get("/api/models/config", headers=bearer(beta))).json()
        assert got["status"] == "ok" and got["config"]["services"]["llm"] == {"default_model": "llama3.2:3b", "fallback_model": None}
        r = await c.post("/api/models/config", json={"config": {"services": {
            "llm": {"default_model": "qwen2.5:0.5b", "fallback_model": "llama3.2:3b"},
            "tts": {"default_provider": "piper", "default_voice": "en_US-amy-medium"}, "stt": {"default_model": "whisper-small"}}}},
            headers=bearer(beta))
        assert r.status_code == 200 and r.json()["config"]["services"]["tts"]["default_provider"] == "piper"
        got = (await c.get("/api/models/config", headers=bearer(beta))).json()
        assert got["config"]["default_model"] == "qwen2.5:0.5b" and got["config"]["services"]["stt"]["default_model"] == "whisper-small"
        # iOS writes the flat keys; both views follow
        assert (await c.post("/api/models/config", json={"default_model": "llama3.2:3b", "temperature": 0.5},
                             headers=bearer(beta))).json()["config"]["services"]["llm"]["default_model"] == "llama3.2:3b"
        for bad in ({"config": {"services": {"tts": {"default_provider": "robot"}}}}, {"config": {"services": {"gpu": {}}}},
                    {"config": {"services": {"llm": {"colour": "red"}}}}, {"temperature": 9}, {"colour": "red"},
                    {"config": {"services": []}}):
            r = await c.post("/api/models/config", json=bad, headers=bearer(beta))
            assert r.status_code == 422, (bad, r.text)


async def test_capabilities(models_app, tenant, peer):
    _tid, beta = await tenant()
    async with make_client(models_app(fleet(peer))) as c:
        caps = (await c.get("/api/models/capabilities", headers=bearer(beta))).json()
        llama = next(m for m in caps["models"] if m["id"] == "llama3.2:3b")
        assert llama["max_tokens"] == 131072 and llama["supports_streaming"] is True and llama["type"] == "llm"
        assert caps["total"] == len(caps["models"]) and all({"id", "name", "type"} <= set(m) for m in caps["models"])


async def test_a_cold_deployed_fleet_is_woken(models_app, tenant, database, moto_endpoint, monkeypatch):
    """A fleet found through its Auto Scaling group with no node: load wakes it (desired 1) and answers
    503 with Retry-After; the list says the fleet is cold."""
    import asyncio

    from tests.runtime.voice.test_routing import _asg, _desired

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    await _asg(moto_endpoint, "gpu-models")
    cold = VoiceSettings(gpu_asg_name="gpu-models", aws_endpoint_url=moto_endpoint, llm_provider="groq", llm_api_key="k",
                         llm_url=closed_url() + "/v1")
    tid, beta = await tenant()
    async with make_client(models_app(cold)) as c:
        admin = bearer(await sign_in_admin(c, database, tid, beta))
        assert (await c.get("/api/models", headers=admin)).json()["gpu"] == {"configured": True, "warm": False}
        r = await c.post("/api/models/llama3.2/load", headers=admin)
        assert r.status_code == 503 and r.json()["error"] == "gpu_waking" and int(r.headers["retry-after"]) > 0
        for _ in range(100):
            if await _desired(moto_endpoint, "gpu-models") == 1:
                break
            await asyncio.sleep(0.05)
        assert await _desired(moto_endpoint, "gpu-models") == 1
