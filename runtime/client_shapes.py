"""Answers whose shape the shipped apps truly disagree on, chosen by ``X-Client-Platform``.

The rule (DESIGN.md, "Decisions of the second wave"): where the apps agree or read disjoint keys, the
runtime answers a **superset** in its routes and never comes here. Only where the same key must carry
incompatible types for two apps is the answer shaped by the ``X-Client-Platform`` header
(``runtime.context.client_info(conn)["platform"]``: "ios" | "android" | "web" | None), and only in
this module: one small function per conflicting field, each saying which app file each shape comes
from and what a caller **without the header** gets.

Who sends the header (this decides the defaults):

- iOS (sirfifer/unamentis, ``UnaMentis/``) sends no ``X-Client-Platform`` on any call.
- Android's ``ApiClient`` sends ``X-Client-Platform: Android``; its bare OkHttp services
  (``ModuleService``, ``KBQuestionService``, ``KBPackService``, ``KBAudioCache``,
  ``TranscriptStreamingService``) send no headers at all.

So for a conflicting field both headerless callers may hit the same route; the default then goes to
the app that can never identify itself (iOS) unless an answer exists that both headerless decoders
accept, and each function says which it chose and why.
"""
from __future__ import annotations

from typing import Any

from starlette.requests import HTTPConnection

from runtime.context import client_info


def _platform(conn: HTTPConnection) -> str | None:
    return client_info(conn).get("platform")


# ---------------------------------------------------------------------------------- modules, Knowledge Bowl

def module_detail_study_modes(conn: HTTPConnection, modes: list[dict[str, Any]]) -> dict[str, Any]:
    """``study_modes`` of ``GET /api/modules/{id}``, as a dict to merge into the detail.

    - ios: the study mode ids, ``[String]?`` (``ModuleDetail.studyModes``,
      UnaMentis/Core/Modules/ModuleService.swift; an object there fails the whole detail).
    - android: the objects ``List<ModuleStudyMode>`` {id, name, …} (``ModuleDetail.studyModes``,
      app/src/main/kotlin/com/unamentis/core/module/ModuleModels.kt; a string there fails the detail).
    - no header (iOS ``ModuleService`` and Android's bare ``ModuleService`` both call without it):
      the key is left out. Both decoders accept its absence (iOS: an optional, nil; Android: the
      default ``emptyList()``) and neither app reads ``ModuleDetail.studyModes`` beyond decoding it
      (its only use in either tree is the declaration), while either shape would make the other
      app's whole detail fail. The study modes both apps use come with the download.
    """
    platform = _platform(conn)
    if platform == "ios":
        return {"study_modes": [m["id"] for m in modes if isinstance(m, dict) and "id" in m]}
    if platform == "android":
        return {"study_modes": modes}
    return {}


# Android KBDifficulty (app/src/main/kotlin/com/unamentis/modules/knowledgebowl/data/model/KBDifficulty.kt):
# the serial names by level; the runtime's difficulty is 1-5, level 6 ("research") is never stored.
_KB_DIFFICULTY = {1: "overview", 2: "foundational", 3: "intermediate", 4: "varsity", 5: "championship", 6: "research"}


def kb_question_difficulty(conn: HTTPConnection, level: int) -> int | str:
    """``difficulty`` of each question in ``POST /api/modules/{id}/download``.

    - android: the ``KBDifficulty`` enum's serial name (overview|foundational|intermediate|varsity|
      championship|research by level 1-6), which ``KBQuestion.difficulty`` decodes
      (app/src/main/kotlin/com/unamentis/modules/knowledgebowl/data/model/KBQuestion.kt; its
      ``Json {ignoreUnknownKeys; isLenient}`` cannot read a number as an enum).
    - everyone else, and no header: the integer level, which iOS ``KBQuestion.difficulty`` requires
      (non-optional Int; UnaMentis/Modules/KnowledgeBowl/Models/KBQuestion.swift, decoded by
      KBQuestionService.swift) and the runtime's own KB routes and the console use.

    The default is iOS's because both callers are headerless — iOS ``KBQuestionService`` and Android
    ``KBQuestionService`` (which sends no headers at all) — and only Android has the header in its
    code (``ApiClient``): the Android service decodes this answer once it sends
    ``X-Client-Platform: Android``; iOS could never ask for its shape.
    """
    if _platform(conn) == "android":
        return _KB_DIFFICULTY.get(level, "varsity")
    return level
