"""Interruptions as a learner lives them: a core task stopped (SIGTERM, a Fargate Spot reclaim) while one
learner is speaking and another is hearing an answer, and a GPU node drained in the middle of an LLM
stream. Nothing the learners said or were told is lost: 0 turns lost, every session resumes with its
transcript, playback position and the turn that was in flight."""
from __future__ import annotations

import asyncio
import signal
import time
import uuid

from gpu_nodes.agent.core import CoreClient
from runtime.voice.config import VoiceSettings
from runtime.voice.core import voice_core
from runtime.voice.routing import CONTINUE_PROMPT

from tests.runtime.conftest import free_port
from .test_drain import _serve
from .wsclient import AudioClient, silence, tone

NODE_TOKEN = "node-token-0123456789abcdef0123"
INSTANCE = "i-0fedcba9876543210"


def _turns_completed(c: AudioClient) -> int:
    return sum(1 for e in c.events if e["type"] == "turn_complete" and not e.get("interrupted"))


async def test_sigterm_mid_utterance_and_mid_answer_loses_no_turn_and_both_resume_on_the_other_task(
        peers, database, tenant, tmp_path):
    _, token = await tenant()
    port_a, port_b = free_port(), free_port()
    task_a = _serve(database, peers, port_a, tmp_path)
    task_b = _serve(database, peers, port_b, tmp_path)  # the other task, same database
    answering, speaking = f"answer-{uuid.uuid4().hex[:8]}", f"speak-{uuid.uuid4().hex[:8]}"
    try:
        peers.stt_text = "explain tides"
        a1 = await AudioClient.open(f"ws://127.0.0.1:{port_a}/ws/audio?token={token}&session={answering}")
        a2 = await AudioClient.open(f"ws://127.0.0.1:{port_a}/ws/audio?token={token}&session={speaking}")
        assert (await a1.next())["type"] == "session" and (await a2.next())["type"] == "session"
        await a1.send({"type": "sync", "segment_index": 3, "offset_ms": 1200, "is_playing": True})
        await a1.until("sync_ack")

        await a1.stream(silence(0.3) + tone(0.6) + silence(0.8))
        await a1.until("llm_start")  # mid-answer: the reply streams for ~1 s more
        await a2.stream(silence(0.3) + tone(0.3))
        await a2.until("vad_start")  # mid-utterance: the learner has not finished speaking
        task_a.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.3)
        await a2.stream(tone(0.4) + silence(0.8))  # ... and finishes the sentence after the SIGTERM

        resume_times = []
        for client, sid in ((a1, answering), (a2, speaking)):
            assert await client.closed(timeout=30) == 1001
            closed_at = time.monotonic()
            types = client.types()
            # The documented hand-over: the turn in flight is answered, then `server_draining`.
            assert "transcript" in types and "llm_complete" in types and _turns_completed(client) == 1
            draining = next(e for e in client.events if e["type"] == "error")
            assert draining["code"] == "server_draining" and draining["recoverable"] is True
            assert draining["session_id"] == sid
            assert types.index("turn_complete") < types.index("error")

            b = await AudioClient.open(f"ws://127.0.0.1:{port_b}/ws/audio?token={token}&session={sid}")
            hello = await b.next()
            resume_times.append(time.monotonic() - closed_at)
            assert hello["resumed"] is True and hello["turn_count"] == 1  # 0 turns lost
            if sid == answering:
                await b.send({"type": "barge_in"})  # no index given: the server's saved position answers
                ack = await b.until("barge_in_ack")
                assert ack["segment_index"] == 3
                peers.stt_text = "and the moon"
                await b.stream(silence(0.3) + tone(0.6) + silence(0.8))
                await b.until("turn_complete")
                msgs = [r for r in peers.requests if r[0] == "openai_chat"][-1][1]["body"]["messages"]
                assert msgs[-3] == {"role": "user", "content": "explain tides"}  # the transcript came along
                assert msgs[-2]["role"] == "assistant" and msgs[-2]["content"].startswith("You said explain tides.")
                assert msgs[-1] == {"role": "user", "content": "and the moon"}
            await b.aclose()
        print(f"core SIGTERM: turns lost 0 of 2; time to resume on the other task "
              f"{', '.join(f'{t * 1000:.0f} ms' for t in resume_times)}")
        await asyncio.get_running_loop().run_in_executor(None, task_a.wait, 30)
        assert task_a.returncode is not None
    finally:
        peers.stt_text = "hello world"
        for proc in (task_a, task_b):
            if proc.poll() is None:
                proc.terminate()
                proc.wait(30)


async def test_gpu_node_drained_mid_llm_stream_the_fallback_finishes_the_turn(
        peers, database, make_app, tenant, live_server):
    _, token = await tenant()
    vs = VoiceSettings(llm_provider="openai", llm_url=peers.url + "/v1", llm_model="slow-40",
                       gpu_llm_url=peers.url, gpu_node_token=NODE_TOKEN,
                       stt_provider="whisper", stt_url=peers.url + "/v1",
                       tts_provider="openai", tts_url=peers.url + "/v1", playback_lead_ms=60000)
    app = make_app(["voice"], voice=vs)
    server = live_server(app)
    core = voice_core(app.state.ctx)  # read only from here: its clients belong to the server's loop
    sid = f"gpu-drain-{uuid.uuid4().hex[:8]}"
    peers.stt_text = "why is the sky blue"
    c = await AudioClient.open(f"{server.ws_url}/ws/audio?token={token}&session={sid}")
    try:
        await c.next()
        await c.stream(silence(0.3) + tone(0.6) + silence(0.8))
        await c.until("llm_token")  # the GPU node is streaming the reply
        assert [r[0] for r in peers.requests if r[0] in ("ollama_chat", "openai_chat")][-1] == "ollama_chat"
        agent = CoreClient(f"{server.url}/api/gpu", INSTANCE, token=NODE_TOKEN)
        t0 = time.monotonic()
        assert await asyncio.to_thread(agent.send, "drain", {"notice": {"kind": "spot-interruption",
                                                                        "action": "terminate"}})
        peers.cut_ollama_streams.set()  # ... and the node stops in the middle of the reply
        done = await c.until("turn_complete", timeout=30)
        resumed_in = time.monotonic() - t0
        assert not done.get("interrupted")
        assert not [e for e in c.events if e["type"] == "error"]  # no llm_failed: the learner saw no failure
        complete = next(e for e in c.events if e["type"] == "llm_complete")
        tokens = "".join(e["token"] for e in c.events if e["type"] == "llm_token")
        assert complete["text"] == tokens.strip()
        gpu_part = tokens.split("You said Your previous answer")[0]
        assert gpu_part.startswith("You said why is the sky blue") or "You said why is the sky blue".startswith(gpu_part.strip())
        fallback = [r for r in peers.requests if r[0] == "openai_chat"][-1][1]["body"]["messages"]
        assert fallback[-1] == {"role": "user", "content": CONTINUE_PROMPT}
        assert fallback[-2]["role"] == "assistant" and fallback[-2]["content"] == gpu_part
        assert core.gpu.snapshot()["draining"] == [INSTANCE]
        await c.aclose()
        # The whole reply (the node's part and the fallback's) is in the saved transcript: 0 turns lost.
        b = await AudioClient.open(f"{server.ws_url}/ws/audio?token={token}&session={sid}")
        hello = await b.next()
        assert hello["resumed"] is True and hello["turn_count"] == 1
        await b.aclose()
        print(f"GPU node drain mid-stream: turns lost 0 of 1; turn completed {resumed_in * 1000:.0f} ms after the drain")
    finally:
        peers.cut_ollama_streams.clear()
        peers.stt_text = "hello world"
