"""PocketSphinx decoding, run inside a worker process (``PocketSphinxSTT`` owns the processes).

PocketSphinx holds the GIL while it decodes, so a decode on a thread of the server process stalls
every request of that process (a 30 s utterance took the health check 33 s). In a separate process
it only takes a core. This module stays small: the worker imports it, and nothing else of the runtime.
"""
from __future__ import annotations

from typing import Any

SAMPLE_RATE = 16000
_decoder: Any = None  # one decoder per worker process; building it costs ~0.3 s


def decode(pcm: bytes) -> str:
    """The hypothesis for 16 kHz mono PCM16 ``pcm`` ("" when nothing was recognised)."""
    global _decoder
    if _decoder is None:
        from pocketsphinx import Decoder

        _decoder = Decoder(samprate=SAMPLE_RATE, loglevel="FATAL")
    _decoder.start_utt()
    _decoder.process_raw(pcm, no_search=False, full_utt=True)
    _decoder.end_utt()
    hyp = _decoder.hyp()
    return hyp.hypstr.strip() if hyp is not None else ""

