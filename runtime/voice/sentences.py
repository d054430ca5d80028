"""Cut a streamed LLM reply into sentences so TTS can start on the first one while the LLM talks."""
from __future__ import annotations

import re

# End of sentence: . ! ? … (optionally closed by quotes/brackets) followed by whitespace, or a newline.
_BOUNDARY = re.compile(r"(?<=[.!?…])[\"')\]]*\s+|\n+")
# Abbreviations that end with a dot but do not end a sentence.
_ABBREV = {"mr.", "mrs.", "ms.", "dr.", "prof.", "st.", "e.g.", "i.e.", "etc.", "vs.", "no.", "fig."}


class SentenceSplitter:
    def __init__(self, min_chars: int = 12, max_chars: int = 300):
        self.min_chars, self.max_chars = min_chars, max_chars
        self._buf = ""

    def feed(self, text: str) -> list[str]:
        self._buf += text
        out: list[str] = []
        start = 0
        for m in _BOUNDARY.finditer(self._buf):
            candidate = self._buf[start:m.start()].strip()
            last_word = candidate.rsplit(None, 1)[-1].lower() if candidate else ""
            # Keep very short fragments ("1." "Hi.") and abbreviations with the next sentence.
            if len(candidate) < self.min_chars or last_word in _ABBREV:
                continue
            out.append(candidate)
            start = m.end()
        self._buf = self._buf[start:]
        # A run-on reply without punctuation still gets spoken: cut at the last space past max_chars.
        while len(self._buf) > self.max_chars:
            cut = self._buf.rfind(" ", 0, self.max_chars)
            cut = cut if cut > 0 else self.max_chars
            out.append(self._buf[:cut].strip())
            self._buf = self._buf[cut:]
        return [s for s in out if s]

    def flush(self) -> list[str]:
        rest, self._buf = self._buf.strip(), ""
        return [rest] if rest else []
