"""Helpers shared by the content families (curricula, KB, sessions, telemetry, models, admin)."""
