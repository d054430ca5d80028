"""Duplicate detection for Knowledge Bowl bundles: two questions are the same when their text is
equal after case folding, punctuation removal and whitespace collapsing (the old server compared the
raw text, which missed "What is X?" vs "what is x ?")."""
from __future__ import annotations

import re
import unicodedata
from typing import Iterable, NamedTuple

_NON_WORD = re.compile(r"[^\w\s]", re.UNICODE)


def normalize(text: str) -> str:
    text = unicodedata.normalize("NFKC", text or "").casefold()
    return " ".join(_NON_WORD.sub(" ", text).split())


class Item(NamedTuple):
    question_id: str
    pack_id: str
    question_text: str


def dedupe(items: Iterable[Item], *, excluded: set[str] = frozenset(), keep_all: bool = False
           ) -> tuple[list[Item], list[dict]]:
    """Keep the first occurrence of each question (by normalized text and by id), in input order.
    Returns (kept, duplicates) where duplicates are ``{question_id, duplicate_of}``."""
    kept: list[Item] = []
    duplicates: list[dict] = []
    first_by_text: dict[str, str] = {}
    seen_ids: set[str] = set()
    for item in items:
        if item.question_id in excluded or item.question_id in seen_ids:
            continue
        key = normalize(item.question_text)
        if not keep_all and key in first_by_text:
            duplicates.append({"question_id": item.question_id, "duplicate_of": first_by_text[key]})
            seen_ids.add(item.question_id)
            continue
        first_by_text.setdefault(key, item.question_id)
        seen_ids.add(item.question_id)
        kept.append(item)
    return kept, duplicates


def duplicate_groups(items: Iterable[Item], pack_names: dict[str, str]) -> list[dict]:
    """Groups of questions sharing a normalized text across the given packs (for preview-dedup)."""
    groups: dict[str, list[Item]] = {}
    for item in items:
        groups.setdefault(normalize(item.question_text), []).append(item)
    result = []
    for members in groups.values():
        if len(members) < 2:
            continue
        result.append({
            "question_text": members[0].question_text[:100],
            "occurrences": [{"question_id": m.question_id, "pack_id": m.pack_id,
                             "pack_name": pack_names.get(m.pack_id, "")} for m in members],
        })
    return result
