"""The voice core: `/ws/audio` sessions (VAD → STT → streaming LLM → sentence TTS), session state, drain."""
