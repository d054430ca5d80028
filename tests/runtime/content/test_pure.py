"""Pure parts: UMCF validation and shapes, chunking, KB de-duplication, confidence analysis, context
budgeting, and the SSRF-safe fetch (against loopback servers and an in-process transport)."""
from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from runtime.curricula import umcf
from runtime.curricula.fetch import FetchError, FetchPolicy, fetch_bytes, is_public_address
from runtime.kb import dedup
from runtime.tutoring import confidence
from runtime.tutoring.context import SessionView, budget_for, build_context, estimate_tokens


def test_umcf_metadata_and_seed_columns_agree():
    doc = json.loads(open("runtime/migrations/0101_content_seed.sql").read().split("$umcf$")[1])
    meta = umcf.validate_document(doc)
    assert (meta.id, meta.topic_count, meta.difficulty, meta.age_range) == ("solar-system-intro", 3, "easy", "10-14")
    assert "'solar-system-intro', 'Our Solar System'" in open("runtime/migrations/0101_content_seed.sql").read()
    detail = umcf.detail(doc)
    # iOS reads the flat TopicSummary list; the web client reads UMCF topic nodes under ``curriculum``
    assert [t["id"]["value"] for t in detail["curriculum"]["topics"]] == [t["id"] for t in detail["topics"]]
    assert len(detail["learning_objectives"]) == 3


def test_umcf_rejections_name_the_field():
    base = {"formatIdentifier": "umcf", "id": {"value": "ok"}, "title": "T", "content": []}
    assert umcf.validate_document(base).topic_count == 0
    for bad, field in (({**base, "formatIdentifier": "scorm"}, "content.formatIdentifier"),
                       ({**base, "id": {"value": "../x"}}, "content.id"),
                       ({**base, "id": None}, "content.id"),
                       ({**base, "title": "  "}, "content.title"),
                       ({**base, "content": {}}, "content.content")):
        with pytest.raises(umcf.UMCFError) as err:
            umcf.validate_document(bad)
        assert err.value.field == field
    # untyped leaves (old importers) still count as topics
    legacy = {**base, "content": [{"id": {"value": "m"}, "children": [{"id": {"value": "a"}, "title": "A"}]}]}
    assert [umcf.node_id(t) for t in umcf.list_topics(legacy)] == ["a"]


def test_chunking_keeps_sentences_whole_and_paragraphs_apart():
    text = "First paragraph one. Two.\n\n" + " ".join(f"Sentence {i} is here." for i in range(100))
    chunks = umcf.chunk_text(text, target=120)
    assert chunks[0] == "First paragraph one. Two."
    assert all(len(c) <= 120 for c in chunks) and all(c.endswith(".") for c in chunks)
    assert " ".join(chunks[1:]) == " ".join(f"Sentence {i} is here." for i in range(100))
    assert umcf.chunk_text("x" * 500, target=100) == ["x" * 500]  # one long sentence stays whole
    assert umcf.chunk_text("   ") == []


def test_dedup_normalises_text_and_keeps_first():
    items = [dedup.Item("a", "p1", "What is 2+2?"), dedup.Item("b", "p2", "what is 2 + 2"),
             dedup.Item("c", "p2", "Other?"), dedup.Item("a", "p3", "What is 2+2?")]
    kept, dups = dedup.dedupe(items)
    assert [k.question_id for k in kept] == ["a", "c"] and dups == [{"question_id": "b", "duplicate_of": "a"}]
    kept, _ = dedup.dedupe(items, excluded={"a"})
    assert [k.question_id for k in kept] == ["b", "c"]
    kept, dups = dedup.dedupe(items, keep_all=True)
    assert [k.question_id for k in kept] == ["a", "b", "c"] and dups == []
    groups = dedup.duplicate_groups(items[:3], {"p1": "One", "p2": "Two"})
    assert len(groups) == 1 and [o["pack_name"] for o in groups[0]["occurrences"]] == ["One", "Two"]


def test_confidence_scores_and_trend():
    assert confidence.analyze("Paris is the capital of France.").confidence_score == 1.0
    hedged = confidence.analyze("I think maybe it is Paris. I'm not sure.")
    assert hedged.confidence_score < confidence.LOW_CONFIDENCE and hedged.scores["uncertainty"] > 0
    assert confidence.analyze("I don't know.").scores["uncertainty"] == 1.0
    # "kind of" is vague, "kindness" is not
    assert confidence.analyze("Kindness matters.").scores["vague_language"] == 0
    assert confidence.trend([], 0.5) == "stable"
    assert confidence.trend([0.9, 0.9], 0.4) == "declining"
    assert confidence.trend([0.2], 0.9) == "improving"


def test_context_fits_the_budget_and_keeps_newest_turns():
    turns = [{"role": "user" if i % 2 else "assistant", "content": f"message {i} " + "word " * 200} for i in range(60)]
    view = SessionView(system_prompt=None, context_window=4096, expansion_count=0,
                       topic={"topic_title": "T", "topic_content": "content " * 5000}, position=None, segment=None,
                       turns=turns, events=[{"type": "signal", "data": {"signal_type": "confusion"}}])
    built = build_context(view)
    assert built["budget_tokens"] == budget_for(4096) == 3072
    assert built["total_tokens"] <= built["budget_tokens"]
    assert "message 59" in built["immediate"] and "message 40" not in built["immediate"]
    assert built["messages"][-1]["content"].startswith("message 59")
    assert estimate_tokens("abcd" * 10) == 10
    assert budget_for(200_000, 0) == 8000 and budget_for(200_000, 2) == 32000 and budget_for(200_000, 100) <= 196_000


def test_public_address_classification():
    for private in ("127.0.0.1", "10.0.0.1", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
                    "::1", "fe80::1", "fc00::1", "::ffff:10.0.0.1", "224.0.0.1"):
        assert not is_public_address(private), private
    assert is_public_address("8.8.8.8") and is_public_address("2606:4700:4700::1111")


async def test_fetch_refuses_private_targets_after_dns():
    async def rebinding(host, port):
        return ["93.184.216.34", "10.0.0.7"]  # one private answer is enough to refuse

    with pytest.raises(FetchError) as err:
        await fetch_bytes("https://evil.example/c.umcf", resolver=rebinding)
    assert (err.value.status, err.value.error) == (400, "url_not_allowed")
    with pytest.raises(FetchError) as err:
        await fetch_bytes("https://example.com:22/x", resolver=rebinding)
    assert err.value.error == "url_not_allowed"

    async def nowhere(host, port):
        raise OSError("no such host")

    with pytest.raises(FetchError) as err:
        await fetch_bytes("https://nowhere.invalid/x", resolver=nowhere)
    assert err.value.error == "url_not_resolvable"


async def test_fetch_pins_the_checked_address_and_rechecks_redirects():
    seen = []

    async def public(host, port):
        return ["93.184.216.34"]

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.host, request.headers["host"], request.extensions.get("sni_hostname")))
        if request.url.path == "/start":
            return httpx.Response(302, headers={"Location": "https://127.0.0.1/steal"})
        return httpx.Response(200, content=b"{}")

    transport = httpx.MockTransport(handler)
    assert await fetch_bytes("https://docs.example/ok", resolver=public, transport=transport) == b"{}"
    assert seen[-1] == ("93.184.216.34", "docs.example", "docs.example")
    with pytest.raises(FetchError) as err:
        await fetch_bytes("https://docs.example/start", resolver=public, transport=transport)
    assert err.value.error == "url_not_allowed" and len(seen) == 2  # the private hop was never requested


async def test_fetch_size_and_time_limits_against_a_loopback_server(live_server):
    async def big(_request):
        return Response(b"x" * 5000)

    async def streamed(_request):
        async def body():
            for _ in range(10):
                yield b"y" * 1000
        return StreamingResponse(body())

    async def slow(_request):
        await asyncio.sleep(3)
        return Response(b"late")

    server = live_server(Starlette(routes=[Route("/big", big), Route("/streamed", streamed), Route("/slow", slow)]))
    lab = FetchPolicy(max_bytes=4000, timeout_seconds=1.0, schemes=("http",), allow_private=True)
    for path in ("/big", "/streamed"):
        with pytest.raises(FetchError) as err:
            await fetch_bytes(server.url + path, policy=lab)
        assert err.value.status == 413
    with pytest.raises(FetchError) as err:
        await fetch_bytes(server.url + "/slow", policy=lab)
    assert err.value.status == 408
    roomy = FetchPolicy(max_bytes=20_000, timeout_seconds=5.0, schemes=("http",), allow_private=True)
    assert await fetch_bytes(server.url + "/streamed", policy=roomy) == b"y" * 10_000
