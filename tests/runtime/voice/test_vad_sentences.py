"""VAD on synthetic and real (eSpeak) audio; the sentence splitter the TTS streaming relies on."""
from __future__ import annotations

import numpy as np

from runtime.voice.sentences import SentenceSplitter
from runtime.voice.vad import EnergyVAD


def _noise(seconds, level=40, seed=1):
    rng = np.random.default_rng(seed)
    return (rng.normal(0, level, int(16000 * seconds))).astype("<i2").tobytes()


def _tone(seconds, amp=6000):
    t = np.arange(int(16000 * seconds)) / 16000
    return (np.sin(2 * np.pi * 300 * t) * amp).astype("<i2").tobytes()


def _feed(vad, pcm, chunk=4096):
    events = []
    for i in range(0, len(pcm), chunk):
        events += vad.process(pcm[i:i + chunk])
    return events


def test_speech_between_silences_gives_one_start_and_one_end():
    vad = EnergyVAD(threshold=0.5)
    events = _feed(vad, _noise(0.5) + _tone(1.0) + _noise(0.2) + _tone(0.5) + _noise(1.0))
    assert [e.kind for e in events] == ["start", "end"]  # the 200 ms pause stays inside the utterance
    assert 480 <= events[0].at_ms <= 620
    assert 1650 <= events[1].duration_ms <= 2400


def test_background_noise_alone_is_not_speech():
    vad = EnergyVAD(threshold=0.5)
    assert _feed(vad, _noise(3.0, level=120)) == []


def test_threshold_controls_sensitivity():
    quiet = _noise(0.3) + _tone(0.6, amp=500) + _noise(1.0)
    assert [e.kind for e in _feed(EnergyVAD(threshold=0.1), quiet)] == ["start", "end"]
    assert _feed(EnergyVAD(threshold=0.9), quiet) == []


def test_odd_sized_chunks_are_buffered():
    vad = EnergyVAD()
    pcm = _noise(0.3) + _tone(0.5) + _noise(1.0)
    assert [e.kind for e in _feed(vad, pcm, chunk=333)] == ["start", "end"]


def test_sentence_splitter_streams_complete_sentences():
    s = SentenceSplitter()
    out = []
    for tok in "Dr. Smith said hello. The sky is blue because of Rayleigh scattering! Why? Think".split(" "):
        out += s.feed(tok + " ")
    out += s.flush()
    assert out == ["Dr. Smith said hello.", "The sky is blue because of Rayleigh scattering!", "Why? Think"]


def test_sentence_splitter_cuts_run_on_text():
    s = SentenceSplitter(max_chars=50)
    out = s.feed("word " * 30)
    assert out and all(len(x) <= 50 for x in out)
