"""Voice-core settings (providers, GPU routing, TTS cache, sockets, jobs).

They are declared with every other environment variable in ``runtime/settings.py`` (one declaration,
one parser, one README table); this module keeps the names the voice core imports.
"""
from __future__ import annotations

from runtime.settings import (
    DEFAULT_SYSTEM_PROMPT,
    LLM_PROVIDERS,
    STT_PROVIDERS,
    TTS_PROVIDERS,
    VoiceSettings,
    voice_settings,
)

__all__ = ["DEFAULT_SYSTEM_PROMPT", "LLM_PROVIDERS", "STT_PROVIDERS", "TTS_PROVIDERS", "VoiceSettings", "voice_settings"]
