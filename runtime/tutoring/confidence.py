"""Confidence analysis of a tutor response (``POST /api/sessions/{id}/analyze-response``).

Counts linguistic markers per category (hedging, uncertainty, deflection, knowledge gaps, vague
language), turns them into 0..1 scores relative to the response's length in sentences, and combines
them into a confidence score. A low score is the signal to expand the model's context (the session
service records it and raises the context budget when the session allows auto-expansion).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

MARKERS: dict[str, tuple[str, ...]] = {
    "hedging": ("i think", "maybe", "perhaps", "probably", "might be", "could be", "possibly",
                "i guess", "i believe", "it seems", "sort of like", "likely"),
    "uncertainty": ("i'm not sure", "i am not sure", "not certain", "uncertain", "unclear", "hard to say",
                    "i'm not certain", "i don't know", "i do not know", "no idea"),
    "deflection": ("let's move on", "that's a good question", "it depends", "outside the scope",
                   "let me get back to", "we'll cover that later", "another time", "beyond what we"),
    "knowledge_gap": ("i don't have information", "i'm not familiar", "beyond my knowledge",
                      "i cannot recall", "i can't recall", "i don't have enough", "i don't remember",
                      "not something i know"),
    "vague_language": ("sort of", "kind of", "stuff", "things like that", "something like", "and so on",
                       "whatever", "somehow", "more or less"),
}
# How much each category lowers confidence (sums to 1).
WEIGHTS = {"uncertainty": 0.30, "knowledge_gap": 0.25, "hedging": 0.20, "deflection": 0.15, "vague_language": 0.10}
LOW_CONFIDENCE = 0.5


@dataclass(frozen=True)
class Analysis:
    confidence_score: float
    scores: dict[str, float]
    detected_markers: list[dict]

    def as_dict(self) -> dict:
        return {
            "confidence_score": self.confidence_score,
            "uncertainty_score": self.scores["uncertainty"],
            "hedging_score": self.scores["hedging"],
            "deflection_score": self.scores["deflection"],
            "knowledge_gap_score": self.scores["knowledge_gap"],
            "vague_language_score": self.scores["vague_language"],
            # the phrases found (the old FOV server's and the Operations Console's string list), and
            # each with its category and count
            "detected_markers": [m["marker"] for m in self.detected_markers],
            "markers": self.detected_markers,
        }


def _count(text: str, phrase: str) -> int:
    return len(re.findall(r"(?<![a-z])" + re.escape(phrase) + r"(?![a-z])", text))


def analyze(response: str) -> Analysis:
    text = " ".join(response.lower().replace("\u2019", "'").split())
    sentences = max(1, len([s for s in re.split(r"[.!?]+", text) if s.strip()]))
    scores: dict[str, float] = {}
    detected: list[dict] = []
    for category, phrases in MARKERS.items():
        hits = 0
        for phrase in phrases:
            n = _count(text, phrase)
            if n:
                hits += n
                detected.append({"category": category, "marker": phrase, "count": n})
        # one marker per sentence already means "this answer is mostly hedged"
        scores[category] = round(min(1.0, hits / sentences), 3)
    penalty = sum(WEIGHTS[c] * s for c, s in scores.items())
    # a single strong category should pull confidence well down, not be averaged away
    penalty = max(penalty, 0.6 * max(scores.values()))
    return Analysis(round(max(0.0, 1.0 - penalty), 3), scores, detected)


def trend(previous: list[float], current: float, tolerance: float = 0.05) -> str:
    """``improving`` / ``declining`` / ``stable`` against the mean of the last three analyses."""
    if not previous:
        return "stable"
    recent = previous[-3:]
    mean = sum(recent) / len(recent)
    if current > mean + tolerance:
        return "improving"
    if current < mean - tolerance:
        return "declining"
    return "stable"
