"""Loopback protocol peers for the voice tests and bench: one real HTTP server speaking the
OpenAI-compatible (chat SSE, transcriptions, speech), Ollama (NDJSON chat), Deepgram (speak) and
whisper.cpp (inference) wire protocols. Every request is recorded so tests can check what was sent.

The LLM answers deterministically from the last user message: "You said <text>. …". The model name
tunes behaviour: ``slow-<ms>`` delays each token, ``fail`` answers 503, ``nousage`` omits usage.
"""
from __future__ import annotations

import asyncio
import json
import threading
import time

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from runtime.providers.audio import wav_bytes
from tests.runtime.conftest import free_port


def _tone(seconds: float, rate: int) -> bytes:
    import numpy as np
    t = np.arange(int(seconds * rate)) / rate
    return (np.sin(2 * np.pi * 220 * t) * 8000).astype("<i2").tobytes()


def reply_words(user_text: str) -> list[str]:
    text = f"You said {user_text.strip() or 'nothing'}. That is a good start. What would you like to learn next?"
    return [w + " " for w in text.split(" ")]


class Peers:
    def __init__(self):
        self.requests: list[tuple[str, dict]] = []
        self.stt_text = "hello world"
        self.fail_next: dict[str, int] = {}
        # Set to make the GPU node (Ollama) stop in the middle of the replies it is streaming.
        self.cut_ollama_streams = threading.Event()
        self.app = Starlette(routes=[
            Route("/v1/chat/completions", self.openai_chat, methods=["POST"]),
            Route("/api/chat", self.ollama_chat, methods=["POST"]),
            Route("/api/tags", self.ollama_tags, methods=["GET"]),
            Route("/v1/audio/transcriptions", self.transcriptions, methods=["POST"]),
            Route("/v1/audio/speech", self.speech, methods=["POST"]),
            Route("/v1/speak", self.deepgram, methods=["POST"]),
            Route("/inference", self.whisper_cpp, methods=["POST"]),
        ])

    def _failing(self, what: str) -> bool:
        n = self.fail_next.get(what, 0)
        if n:
            self.fail_next[what] = n - 1
            return True
        return False

    @staticmethod
    def _delay(model: str) -> float:
        return int(model.split("-", 1)[1]) / 1000 if model.startswith("slow-") else 0.0

    async def openai_chat(self, request: Request):
        body = await request.json()
        self.requests.append(("openai_chat", {"body": body, "auth": request.headers.get("authorization")}))
        if body.get("model") == "fail" or self._failing("llm"):
            return JSONResponse({"error": {"message": "overloaded"}}, status_code=503)
        words = reply_words(body["messages"][-1]["content"])
        delay = self._delay(body.get("model", ""))

        async def gen():
            for w in words:
                if delay:
                    await asyncio.sleep(delay)
                chunk = {"choices": [{"index": 0, "delta": {"content": w}, "finish_reason": None}], "usage": None}
                yield f"data: {json.dumps(chunk)}\n\n"
            yield f"data: {json.dumps({'choices': [{'index': 0, 'delta': {}, 'finish_reason': 'stop'}]})}\n\n"
            if body.get("model") != "nousage" and body.get("stream_options", {}).get("include_usage"):
                usage = {"prompt_tokens": 20, "completion_tokens": len(words), "total_tokens": 20 + len(words)}
                yield f"data: {json.dumps({'choices': [], 'usage': usage})}\n\n"
            yield "data: [DONE]\n\n"
        return StreamingResponse(gen(), media_type="text/event-stream")

    async def ollama_chat(self, request: Request):
        body = await request.json()
        self.requests.append(("ollama_chat", {"body": body}))
        if self._failing("llm"):
            return JSONResponse({"error": "model is loading"}, status_code=503)
        words = reply_words(body["messages"][-1]["content"])
        delay = self._delay(body.get("model", ""))

        async def gen():
            for w in words:
                if delay:
                    await asyncio.sleep(delay)
                if self.cut_ollama_streams.is_set():
                    raise ConnectionAbortedError("the GPU node stopped mid-reply")
                yield json.dumps({"model": body["model"], "message": {"role": "assistant", "content": w},
                                  "done": False}) + "\n"
            yield json.dumps({"model": body["model"], "message": {"role": "assistant", "content": ""}, "done": True,
                              "done_reason": "stop", "prompt_eval_count": 20, "eval_count": len(words)}) + "\n"
        return StreamingResponse(gen(), media_type="application/x-ndjson")

    async def ollama_tags(self, request: Request):
        self.requests.append(("ollama_tags", {}))
        return JSONResponse({"models": [{"name": "llama3.2"}]})

    async def transcriptions(self, request: Request):
        form = await request.form()
        upload = form["file"]
        data = await upload.read()
        self.requests.append(("transcriptions", {"model": form.get("model"), "bytes": len(data),
                                                 "auth": request.headers.get("authorization")}))
        if self._failing("stt"):
            return JSONResponse({"error": "busy"}, status_code=503)
        return JSONResponse({"text": self.stt_text, "segments": [{"avg_logprob": -0.1}]})

    async def whisper_cpp(self, request: Request):
        form = await request.form()
        data = await form["file"].read()
        self.requests.append(("inference", {"bytes": len(data)}))
        return JSONResponse({"text": self.stt_text})

    async def speech(self, request: Request):
        body = await request.json()
        self.requests.append(("speech", {"body": body, "auth": request.headers.get("authorization")}))
        if self._failing("tts"):
            return JSONResponse({"error": "busy"}, status_code=503)
        # ~60 ms of audio per word, at 24 kHz like the GPU node's server.
        seconds = max(0.2, 0.06 * len(body["input"].split()))
        return Response(wav_bytes(_tone(seconds, 24000), 24000), media_type="audio/wav")

    async def deepgram(self, request: Request):
        body = await request.json()
        self.requests.append(("deepgram", {"params": dict(request.query_params), "body": body,
                                           "auth": request.headers.get("authorization")}))
        rate = int(request.query_params.get("sample_rate", "24000"))
        return Response(_tone(0.3, rate), media_type="application/octet-stream")


class ServerThread:
    """Run an ASGI app with uvicorn on a loopback port in a background thread."""

    def __init__(self, app, **config):
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    lifespan="off", **config))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        self.thread.start()
        deadline = time.time() + 10
        while not self.server.started:
            if time.time() > deadline or not self.thread.is_alive():
                raise RuntimeError("loopback server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(timeout=10)
