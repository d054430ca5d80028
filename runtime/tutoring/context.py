"""Context building for a tutoring session: four tiers assembled within the model's token budget.

* **immediate** — the most recent turns (and a barge-in utterance), verbatim: what the model must
  answer now;
* **working** — the current topic (title, content, objectives, glossary, misconceptions) and where
  the learner is (curriculum position, the segment being read);
* **episodic** — what happened earlier in this session, compressed: older turns as one-line notes,
  learner signals (confusion, repetition…) and barge-ins;
* **semantic** — the curriculum's outline and glossary: long-lived background knowledge.

The budget is a share of the model's context window (leaving room for the answer); each tier gets a
fixed fraction and unused room flows to the next tier in priority order (immediate first). Token
counts use a 4-characters-per-token estimate, which errs high for English and so stays under budget.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

BASE_BUDGET_TOKENS = 8_000
TIER_SHARES = (("immediate", 0.40), ("working", 0.30), ("episodic", 0.15), ("semantic", 0.15))
DEFAULT_SYSTEM_PROMPT = (
    "You are UnaMentis, a patient voice tutor. Answer in short spoken sentences, check understanding "
    "often, and stay on the current topic unless the learner asks to move on."
)


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / 4) if text else 0


def budget_for(context_window: int, expansion_count: int = 0) -> int:
    """Tokens available for context: the base budget doubled per expansion, capped by the window
    minus room for the answer (a quarter of the window, at most 4096 tokens)."""
    reserve = min(4096, context_window // 4)
    available = max(256, context_window - reserve)
    return min(available, BASE_BUDGET_TOKENS * (2 ** max(0, min(expansion_count, 8))))


def _fit(lines: Sequence[str], budget: int, *, keep_newest: bool = False) -> list[str]:
    """The longest prefix (or, for conversation, suffix) of ``lines`` that fits ``budget`` tokens;
    a line that alone is too long is cut at a word boundary."""
    ordered = list(reversed(lines)) if keep_newest else list(lines)
    kept: list[str] = []
    used = 0
    for line in ordered:
        cost = estimate_tokens(line) + 1
        if used + cost > budget:
            room = (budget - used - 1) * 4
            if room > 40:
                kept.append(line[:room].rsplit(" ", 1)[0] + " …")
            break
        kept.append(line)
        used += cost
    return list(reversed(kept)) if keep_newest else kept


@dataclass
class SessionView:
    """What the builder needs from a stored session (plain data; the service loads it)."""

    system_prompt: str | None
    context_window: int
    expansion_count: int
    topic: dict[str, Any] | None
    position: dict[str, Any] | None
    segment: dict[str, Any] | None
    turns: list[dict[str, Any]]  # {role, content}, oldest first
    events: list[dict[str, Any]]  # {type, data}, oldest first


IMMEDIATE_TURNS = 8


def _working_lines(view: SessionView) -> list[str]:
    lines: list[str] = []
    pos = view.position or {}
    if pos:
        where = f"Curriculum: {pos.get('curriculum_title', '')}"
        if pos.get("total_topics"):
            where += f" — topic {int(pos.get('current_topic_index', 0)) + 1} of {pos['total_topics']}"
        if pos.get("unit_title"):
            where += f" (unit: {pos['unit_title']})"
        lines.append(where)
    topic = view.topic or {}
    if topic:
        lines.append(f"Current topic: {topic.get('topic_title', '')}")
        for objective in topic.get("learning_objectives") or []:
            lines.append(f"Objective: {objective}")
        for term in topic.get("glossary_terms") or []:
            lines.append(f"Term: {term.get('term', '')} — {term.get('definition', '')}")
        for m in topic.get("misconceptions") or []:
            lines.append(f"Misconception to watch for (\"{m.get('trigger_phrase', '')}\"): "
                         f"{m.get('misconception', '')} Remedy: {m.get('remediation', '')}")
    if view.segment:
        lines.append(f"Now reading: {view.segment.get('text', '')}")
    if topic.get("topic_content"):
        lines.append(f"Topic content: {topic['topic_content']}")
    return lines


def _episodic_lines(view: SessionView) -> list[str]:
    lines = []
    for turn in view.turns[:-IMMEDIATE_TURNS] if len(view.turns) > IMMEDIATE_TURNS else []:
        text = " ".join(str(turn.get("content", "")).split())
        lines.append(f"Earlier {turn.get('role')}: {text[:160]}")
    for event in view.events:
        data = event.get("data") or {}
        if event.get("type") == "signal":
            lines.append(f"Learner signal: {data.get('signal_type')} {data.get('content') or ''}".rstrip())
        elif event.get("type") == "barge_in":
            lines.append(f"Learner interrupted: {data.get('utterance', '')}")
        elif event.get("type") == "topic_changed":
            lines.append(f"Moved to topic: {data.get('topic_title', '')}")
    return lines


def _semantic_lines(view: SessionView) -> list[str]:
    lines = []
    outline = (view.position or {}).get("curriculum_outline")
    if isinstance(outline, list):
        lines.extend(f"Outline: {item}" for item in outline)
    elif isinstance(outline, str) and outline:
        lines.append(f"Outline: {outline}")
    return lines


def build_context(view: SessionView, barge_in_utterance: str | None = None) -> dict[str, Any]:
    """Assemble the tiers; returns ``{system_message, immediate, working, episodic, semantic,
    total_tokens, budget_tokens, messages}``."""
    system_prompt = view.system_prompt or DEFAULT_SYSTEM_PROMPT
    budget = budget_for(view.context_window, view.expansion_count)
    remaining = max(0, budget - estimate_tokens(system_prompt))
    recent = view.turns[-IMMEDIATE_TURNS:]
    immediate_lines = [f"{t.get('role')}: {t.get('content', '')}" for t in recent]
    if barge_in_utterance:
        immediate_lines.append(f"user (interrupting): {barge_in_utterance}")
    sources = {
        "immediate": (immediate_lines, True),
        "working": (_working_lines(view), False),
        "episodic": (_episodic_lines(view), True),
        "semantic": (_semantic_lines(view), False),
    }
    tiers: dict[str, str] = {}
    carry = 0
    total_budget = remaining
    for name, share in TIER_SHARES:
        allowance = int(total_budget * share) + carry
        lines, newest = sources[name]
        fitted = _fit(lines, allowance, keep_newest=newest)
        tiers[name] = "\n".join(fitted)
        carry = max(0, allowance - sum(estimate_tokens(x) + 1 for x in fitted))
    system_message = "\n\n".join(
        part for part in (
            system_prompt,
            tiers["semantic"] and "Background:\n" + tiers["semantic"],
            tiers["episodic"] and "Earlier in this session:\n" + tiers["episodic"],
            tiers["working"] and "Where we are:\n" + tiers["working"],
        ) if part
    )
    messages = [{"role": "system", "content": system_message}]
    kept_lines = len(tiers["immediate"].split("\n")) if tiers["immediate"] else 0
    if barge_in_utterance and kept_lines:
        kept_lines -= 1  # the interruption is the newest line, kept first
    kept_turns = recent[len(recent) - kept_lines:] if kept_lines else []
    messages.extend({"role": t.get("role"), "content": t.get("content", "")} for t in kept_turns)
    if barge_in_utterance:
        messages.append({"role": "user", "content": barge_in_utterance})
    total = estimate_tokens(system_prompt) + sum(estimate_tokens(v) for v in tiers.values())
    return {"system_message": system_message, **tiers, "total_tokens": total, "budget_tokens": budget,
            "messages": messages}


# The model tiers by context window (the old FOV server's ``ModelTier.from_context_window``), as the
# Operations Console's FOV debugger names them.
def model_tier(context_window: int) -> str:
    if context_window >= 100_000:
        return "CLOUD"
    if context_window >= 32_000:
        return "MID_RANGE"
    if context_window >= 8_000:
        return "ON_DEVICE"
    return "TINY"


def tier_report(view: SessionView, built: dict[str, Any]) -> dict[str, Any]:
    """What the context builder did, per tier: ``model_tier``, ``budget_config`` (each tier's share of
    the budget, the turns kept verbatim), ``buffers`` (what each tier holds) and ``token_usage``
    (estimated tokens against each tier's share)."""
    budget = int(built["budget_tokens"])
    shares = {name: int(budget * share) for name, share in TIER_SHARES}
    tier = model_tier(view.context_window)
    topic = view.topic or {}
    position = view.position or {}
    signals = [e.get("data") or {} for e in view.events if e.get("type") == "signal"]

    def signal_count(kind: str) -> int:
        return sum(1 for s in signals if s.get("signal_type") == kind)

    barge_ins = [e.get("data") or {} for e in view.events if e.get("type") == "barge_in"]
    usage = {}
    for name in ("immediate", "working", "episodic", "semantic"):
        used = estimate_tokens(built[name])
        usage[name] = {"budget": shares[name], "estimated_used": used,
                       "percentage": round(100.0 * used / shares[name], 1) if shares[name] else 0.0}
    return {
        "model_tier": tier,
        "budget_config": {"tier": tier, **{f"{name}_budget": shares[name] for name in shares},
                          "total_budget": budget, "max_conversation_turns": IMMEDIATE_TURNS},
        "buffers": {
            "immediate": {"current_segment": (view.segment or {}).get("text"),
                          "barge_in": (barge_ins[-1].get("utterance") if barge_ins else None),
                          "turn_count": min(len(view.turns), IMMEDIATE_TURNS), "max_turns": IMMEDIATE_TURNS},
            "working": {"topic_id": topic.get("topic_id"), "topic_title": topic.get("topic_title"),
                        "glossary_count": len(topic.get("glossary_terms") or []),
                        "misconception_count": len(topic.get("misconceptions") or [])},
            "episodic": {"topic_summary_count": sum(1 for e in view.events if e.get("type") == "topic_changed"),
                         "questions_count": signal_count("question"),
                         "learner_signals": {"clarifications": signal_count("clarification"),
                                             "repetitions": signal_count("repetition"),
                                             "confusions": signal_count("confusion")}},
            "semantic": {"curriculum_id": None, "current_topic_index": int(position.get("current_topic_index") or 0),
                         "total_topics": int(position.get("total_topics") or 0),
                         "has_outline": bool(position.get("curriculum_outline"))},
        },
        "token_usage": usage,
        "total_context_tokens": built["total_tokens"],
    }
