"""A loopback Ollama: the parts of its HTTP API the model routes use, with state a test can read.

``/api/tags`` lists ``installed``; ``/api/ps`` lists ``loaded`` (name -> VRAM bytes);
``/api/generate`` without a prompt loads the model (``keep_alive`` ≠ 0) or unloads it (``0``), 404 for a
model that is not installed, as Ollama does; ``/api/pull`` streams newline-delimited progress objects and
installs the model (a name starting ``missing`` ends in an error line, as a registry without it does);
``/api/show`` reports ``<arch>.context_length``. Every request is recorded in ``requests``.
"""
from __future__ import annotations

import json

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

GB = 1024 ** 3


class OllamaPeer:
    def __init__(self, installed: tuple[str, ...] = ("llama3.2:3b", "qwen2.5:0.5b")):
        self.installed: dict[str, int] = {name: 2 * GB for name in installed}
        self.loaded: dict[str, int] = {}
        self.keep_alive: dict[str, object] = {}
        self.requests: list[tuple[str, dict]] = []
        self.app = Starlette(routes=[
            Route("/api/tags", self.tags, methods=["GET"]),
            Route("/api/ps", self.ps, methods=["GET"]),
            Route("/api/generate", self.generate, methods=["POST"]),
            Route("/api/pull", self.pull, methods=["POST"]),
            Route("/api/show", self.show, methods=["POST"]),
        ])

    @staticmethod
    def _tag(name: str, size: int) -> dict:
        return {"name": name, "model": name, "size": size, "digest": "sha256:" + "0" * 64,
                "details": {"family": name.split(":")[0].rstrip("0123456789."), "parameter_size": "3.2B",
                            "quantization_level": "Q4_K_M"}}

    async def tags(self, request: Request):
        self.requests.append(("tags", {}))
        return JSONResponse({"models": [self._tag(n, s) for n, s in self.installed.items()]})

    async def ps(self, request: Request):
        self.requests.append(("ps", {}))
        return JSONResponse({"models": [{**self._tag(n, self.installed.get(n, 0)), "size_vram": v,
                                         "expires_at": "2026-12-04T12:00:00Z"} for n, v in self.loaded.items()]})

    @staticmethod
    def name(model: object) -> str:
        """Ollama's own reading of a name: no tag means ``:latest``."""
        text = str(model or "")
        return text if ":" in text else text + ":latest"

    async def generate(self, request: Request):
        body = await request.json()
        self.requests.append(("generate", body))
        model = self.name(body.get("model"))
        if model not in self.installed:
            return JSONResponse({"error": f"model '{model}' not found"}, status_code=404)
        if body.get("keep_alive") in (0, "0", "0s", "0m"):
            self.loaded.pop(model, None)
            reason = "unload"
        else:
            self.loaded[model] = int(self.installed[model] * 1.2)
            self.keep_alive[model] = body.get("keep_alive")
            reason = "load"
        return JSONResponse({"model": model, "created_at": "2026-12-04T11:00:00Z", "response": "", "done": True,
                             "done_reason": reason})

    async def pull(self, request: Request):
        body = await request.json()
        self.requests.append(("pull", body))
        if not isinstance(body.get("model") or body.get("name"), str):
            return JSONResponse({"error": "invalid model name"}, status_code=400)
        model = self.name(body.get("model") or body.get("name"))

        async def lines():
            yield json.dumps({"status": "pulling manifest"}) + "\n"
            if model.startswith("missing"):
                yield json.dumps({"error": "pull model manifest: file does not exist"}) + "\n"
                return
            total = 3 * 1024 * 1024
            for done in (0, total // 2, total):
                yield json.dumps({"status": "pulling aaaa", "digest": "sha256:aaaa", "total": total, "completed": done}) + "\n"
            yield json.dumps({"status": "verifying sha256 digest"}) + "\n"
            self.installed[model] = total
            yield json.dumps({"status": "success"}) + "\n"

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    async def show(self, request: Request):
        body = await request.json()
        self.requests.append(("show", body))
        if self.name(body.get("model")) not in self.installed:
            return JSONResponse({"error": "model not found"}, status_code=404)
        return JSONResponse({"details": {"family": "llama"}, "model_info": {"general.architecture": "llama",
                                                                          "llama.context_length": 131072}})
