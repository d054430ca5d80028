"""How ``runtime.client_shapes`` tells the apps apart: the X-Client-Platform header, and for Android's
header-less OkHttp services their default User-Agent — never for a caller that names its platform."""
from __future__ import annotations

from starlette.requests import Request

from runtime import client_shapes


def conn(**headers: str) -> Request:
    raw = [(k.replace("_", "-").lower().encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "method": "GET", "path": "/", "headers": raw, "query_string": b""})


def test_kb_difficulty_by_header_then_user_agent():
    assert client_shapes.kb_question_difficulty(conn(x_client_platform="Android"), 3) == "intermediate"
    assert client_shapes.kb_question_difficulty(conn(user_agent="okhttp/4.12.0"), 3) == "intermediate"
    assert client_shapes.kb_question_difficulty(conn(user_agent="UnaMentis/42 CFNetwork/1568 Darwin/24.0"), 3) == 3
    assert client_shapes.kb_question_difficulty(conn(), 3) == 3
    # a caller that names its platform is taken at its word
    assert client_shapes.kb_question_difficulty(conn(x_client_platform="iOS", user_agent="okhttp/4.12.0"), 3) == 3


def test_transcript_is_text_only_for_the_api_client_header():
    body = {"segments": [{"content": "One."}, {"content": " "}, {"content": "Two."}]}
    assert client_shapes.topic_transcript_answer(conn(x_client_platform="Android"), body) == "One.\n\nTwo."
    # TranscriptStreamingService is bare OkHttp: it decodes the object
    assert client_shapes.topic_transcript_answer(conn(user_agent="okhttp/4.12.0"), body) is body
