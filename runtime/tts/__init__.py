"""TTS: the content-addressed audio cache and synthesis through it (``cache``, ``speech``), the cache
index and profile stores (``index``, ``profiles``) and Knowledge Bowl audio (``kb_audio``). Their HTTP
routes and prefetch jobs need the live voice core and live in ``runtime.voice``."""
