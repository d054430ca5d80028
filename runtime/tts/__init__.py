"""TTS: the content-addressed audio cache, synthesis through it, profiles, prefetch and KB audio."""
