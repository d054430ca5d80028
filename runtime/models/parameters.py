"""Generation parameters of one model (Ollama's option names) with their ranges, and the tenant's
model settings: what ``/api/models/{id}/parameters`` and ``/api/models/config`` read and validate.

The parameter set and ranges are the ones the Operations Console's parameter editor and iOS
``ServerConfigManager.getModelParameters`` read: ``{value, min, max, step?, description}`` each.
Out-of-range values are refused (422), not clamped: a client that sent them should know.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from runtime.errors import InvalidField, InvalidParameter
from runtime.settings import VoiceSettings
from runtime.validation import field_float, field_int, field_str

MODEL_ID = re.compile(r"^[A-Za-z0-9_.:/-]{1,200}$")


@dataclass(frozen=True)
class Parameter:
    name: str
    minimum: float
    maximum: float
    step: float | None
    integer: bool
    description: str


PARAMETERS: tuple[Parameter, ...] = (
    Parameter("num_ctx", 256, 131072, 256, True, "Context window: tokens of conversation the model sees."),
    Parameter("temperature", 0.0, 2.0, 0.05, False, "Sampling temperature: higher is more varied, lower more focused."),
    Parameter("top_p", 0.0, 1.0, 0.05, False, "Nucleus sampling: only the likeliest tokens whose probabilities add up to this."),
    Parameter("top_k", 1, 100, 1, True, "Top-k sampling: choose among this many likeliest tokens."),
    Parameter("repeat_penalty", 0.0, 2.0, 0.05, False, "Penalty on repeating tokens (1 = none)."),
    Parameter("seed", -1, 2147483647, None, True, "Random seed; -1 picks a new one for every answer."),
)
BY_NAME = {p.name: p for p in PARAMETERS}
# Ollama's own defaults where the tenant's settings say nothing.
FIXED_DEFAULTS = {"num_ctx": 4096, "top_k": 40, "repeat_penalty": 1.1, "seed": -1}

# The tenant's model settings (model_configs.config): flat keys, as iOS ServerConfigManager reads and
# writes them; the console's {services: {llm, tts, stt}} view is made of the same keys (config_view).
CONFIG_KEYS = ("default_model", "fallback_model", "temperature", "max_tokens", "top_p", "context_window",
               "keep_alive", "system_prompt", "tts_provider", "tts_voice", "stt_model")
# The console's TTS choice (ModelConfig.services.tts.default_provider): the GPU node's OpenAI-compatible
# speech server on 8880 (what the old VibeVoice server was) or a Piper server.
CONSOLE_TTS_PROVIDERS = ("vibevoice", "piper")
KEEP_ALIVE = r"-?\d+(\.\d+)?(ms|s|m|h)?"


def model_name(model_id: str, server_ids: set[str]) -> str:
    """The model an id names: ids may carry the server as ``<server_id>:<model>`` (the old management
    API's form, e.g. ``gpu:llama3.2:3b``), which is dropped only when the prefix is a known server."""
    if not MODEL_ID.match(model_id):
        raise InvalidParameter("'model_id' must be 1-200 letters, digits or _.:/-", error="invalid_id",
                               details={"field": "model_id"})
    prefix, _, rest = model_id.partition(":")
    return rest if rest and prefix in server_ids else model_id


def config_defaults(vs: VoiceSettings) -> dict[str, Any]:
    return {"default_model": vs.llm_model, "fallback_model": None, "temperature": vs.llm_temperature,
            "max_tokens": vs.llm_max_tokens, "top_p": 1.0, "context_window": 8192, "keep_alive": vs.llm_keep_alive,
            "system_prompt": None, "tts_provider": "vibevoice", "tts_voice": vs.tts_voice or "", "stt_model": vs.stt_model}


def config_view(config: dict[str, Any]) -> dict[str, Any]:
    """The flat settings (iOS) with the console's ``services`` view of the same values."""
    return {**config, "services": {
        "llm": {"default_model": config["default_model"], "fallback_model": config["fallback_model"]},
        "tts": {"default_provider": config["tts_provider"], "default_voice": config["tts_voice"]},
        "stt": {"default_model": config["stt_model"]}}}


def _services_flat(services: Any) -> dict[str, Any]:
    """The console's ``{services: {llm, tts, stt}}`` as flat keys (unknown services or keys are refused)."""
    if not isinstance(services, dict):
        raise InvalidField("'services' must be an object of llm, tts and stt settings.", details={"field": "services"})
    keys = {"llm": {"default_model": "default_model", "fallback_model": "fallback_model"},
            "tts": {"default_provider": "tts_provider", "default_voice": "tts_voice"},
            "stt": {"default_model": "stt_model"}}
    flat: dict[str, Any] = {}
    for service, values in services.items():
        if service not in keys or not isinstance(values, dict):
            raise InvalidField(f"'services.{service}' is not a service here (llm, tts, stt) or not an object.",
                               details={"field": f"services.{service}"})
        for key, value in values.items():
            if key not in keys[service]:
                raise InvalidField(f"Unknown setting 'services.{service}.{key}'.", details={"field": f"services.{service}.{key}"})
            flat[keys[service][key]] = value
    return flat


def config_changes(body: dict[str, Any]) -> dict[str, Any]:
    """The validated settings of a save: flat keys (iOS) and/or ``services`` (the console)."""
    body = dict(body)
    if "services" in body:
        body.update(_services_flat(body.pop("services")))
    unknown = sorted(set(body) - set(CONFIG_KEYS))
    if unknown:
        raise InvalidField(f"Unknown settings: {unknown}", details={"field": unknown[0]})
    if "tts_provider" in body and body["tts_provider"] not in CONSOLE_TTS_PROVIDERS:
        raise InvalidField(f"'tts_provider' must be one of {list(CONSOLE_TTS_PROVIDERS)}.", details={"field": "tts_provider"})
    changes = {
        "default_model": field_str(body, "default_model", max_len=200, pattern=MODEL_ID),
        "fallback_model": field_str(body, "fallback_model", max_len=200, pattern=MODEL_ID),
        "temperature": field_float(body, "temperature", min=0.0, max=2.0),
        "max_tokens": field_int(body, "max_tokens", min=1, max=32768),
        "top_p": field_float(body, "top_p", min=0.0, max=1.0),
        "context_window": field_int(body, "context_window", min=512, max=2_000_000),
        "keep_alive": field_str(body, "keep_alive", max_len=20, pattern=KEEP_ALIVE),
        "system_prompt": field_str(body, "system_prompt", max_len=20_000),
        "tts_provider": body.get("tts_provider"),
        "tts_voice": field_str(body, "tts_voice", max_len=100),
        "stt_model": field_str(body, "stt_model", max_len=200, pattern=MODEL_ID),
    }
    return {k: v for k, v in changes.items() if k in body}


def parameter_values(config: dict[str, Any], stored: dict[str, Any]) -> dict[str, float]:
    """The values of one model: its stored ones, else the tenant's settings, else Ollama's defaults."""
    base = {**FIXED_DEFAULTS, "temperature": config["temperature"], "top_p": config["top_p"]}
    return {p.name: stored.get(p.name, base[p.name]) for p in PARAMETERS}


def parameter_view(values: dict[str, float], context_length: int | None) -> dict[str, dict[str, Any]]:
    """Each parameter as ``{value, min, max, step, description}``; ``num_ctx`` tops out at the model's
    trained context length when the server reports it."""
    out: dict[str, dict[str, Any]] = {}
    for p in PARAMETERS:
        item: dict[str, Any] = {"value": values[p.name], "min": p.minimum, "max": p.maximum, "description": p.description}
        if p.step is not None:
            item["step"] = p.step
        if p.name == "num_ctx" and context_length:
            item["max"] = context_length
            item["model_max_context"] = context_length
        out[p.name] = item
    return out


def parameter_changes(params: Any) -> dict[str, float]:
    """Validated ``{name: number}`` of a save (422 on an unknown name, a non-number or out of range)."""
    if not isinstance(params, dict) or not params:
        raise InvalidField("'parameters' must be an object of parameter values.", details={"field": "parameters"})
    unknown = sorted(set(params) - set(BY_NAME))
    if unknown:
        raise InvalidField(f"Unknown parameters: {unknown}; known: {list(BY_NAME)}", details={"field": unknown[0]})
    out: dict[str, float] = {}
    for name, value in params.items():
        p = BY_NAME[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise InvalidField(f"'{name}' must be a number.", details={"field": name})
        if p.integer and value != int(value):
            raise InvalidField(f"'{name}' must be a whole number.", details={"field": name})
        if not p.minimum <= value <= p.maximum:
            raise InvalidField(f"'{name}' must be between {p.minimum:g} and {p.maximum:g}.",
                               details={"field": name, "min": p.minimum, "max": p.maximum})
        out[name] = int(value) if p.integer else float(value)
    return out
