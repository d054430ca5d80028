"""Record the runtime's real answers while tests run, and write ``runtime/api_schemas/answers.json``.

    python -m tests.openapi_recorder                      # the client-contract tests (tests/clients)
    python -m tests.openapi_recorder tests/runtime/kb -k pack   # any pytest selection

Every answer a test receives over ``httpx`` (the runtime under ``make_client``) is noted with its
method, path, status and JSON body; the client-contract tests also note which app schema decoded it
(``note_app_schema``). The answers are matched to the document's operations (``/api/curricula/{id}``)
and merged into ``answers.json``: per operation and 2xx status, the app schemas that decode it (kept
from earlier runs: remove one by hand), its media type, and where no app decodes it the schema of the
recorded answers (widened by each run that sees it: delete an entry to record it afresh). Then every recorded JSON answer is validated
against the rebuilt document's schema for its operation and status; the command fails if one does not
validate. A run records nothing unless ``UNAMENTIS_RECORD_ANSWERS`` names its notes file (the command
sets it), so ordinary test runs are untouched.
"""
from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator

from runtime.app import create_app
from runtime.health import build_openapi
from runtime.openapi import responses
from runtime.settings import Settings

ENV = "UNAMENTIS_RECORD_ANSWERS"
_MAX_BODY = 512 * 1024
_NOT_RECORDED = {"GET /api/openapi.json"}  # the document itself: its schema is declared


def _note(entry: dict[str, Any]) -> None:
    path = os.environ.get(ENV)
    if path:
        with open(path, "a", encoding="utf-8") as notes:
            notes.write(json.dumps(entry) + "\n")


def note_app_schema(response: httpx.Response, app: str, schema: str, many: bool = False) -> None:
    """The answer decoded as the app's ``schema`` (``android``: a Kotlin class, ``many``: a list of it)."""
    if os.environ.get(ENV):
        _note({"method": response.request.method, "path": response.request.url.path, "status": response.status_code,
               "app": f"{app}/{schema}{'[]' if many else ''}"})


def _note_answer(response: httpx.Response, streamed: bool) -> None:
    media = response.headers.get("content-type", "").split(";")[0].strip() or None
    entry: dict[str, Any] = {"method": response.request.method, "path": response.request.url.path,
                             "status": response.status_code, "media": media}
    if media == "application/json" and not streamed and len(response.content) <= _MAX_BODY:
        try:
            entry["body"] = response.json()
        except ValueError:
            pass
    _note(entry)


def pytest_configure(config: Any) -> None:
    """Loaded with ``-p tests.openapi_recorder``: wrap ``AsyncClient.send`` to note every answer."""
    if not os.environ.get(ENV) or getattr(httpx.AsyncClient.send, "_records_answers", False):
        return
    original = httpx.AsyncClient.send

    async def send(self: httpx.AsyncClient, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        response = await original(self, request, **kwargs)
        _note_answer(response, bool(kwargs.get("stream")))
        return response

    send._records_answers = True  # type: ignore[attr-defined]
    httpx.AsyncClient.send = send  # type: ignore[method-assign]


# ------------------------------------------------------------------------------------------ schemas
def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _keyed_by_data(keys: list[str], values: list[dict[str, Any]]) -> bool:
    """An object that maps ids to records (``{"sys-arts-001": {...}, ...}``), not one with named fields:
    many keys, most with digits in them, every value of one shape."""
    if len(keys) > 60:
        return True
    if len(keys) < 8 or sum(any(c.isdigit() for c in k) for k in keys) * 2 < len(keys):
        return False
    shapes = {json.dumps(infer([x]), sort_keys=True) for v in values for x in v.values()}
    return len(shapes) == 1


def infer(samples: list[Any]) -> dict[str, Any]:
    """The narrowest plain JSON Schema every sample fits: types, object properties (required: the
    ones every sample has), array items. Objects keyed by data (``_keyed_by_data``) get
    ``additionalProperties`` instead of properties."""
    by_type: dict[str, list[Any]] = defaultdict(list)
    for sample in samples:
        by_type[_json_type(sample)].append(sample)
    if "integer" in by_type and "number" in by_type:
        by_type["number"] += by_type.pop("integer")
    branches = []
    for kind, values in sorted(by_type.items()):
        schema: dict[str, Any] = {"type": kind}
        if kind == "object":
            keys = sorted({k for v in values for k in v})
            if _keyed_by_data(keys, values):
                schema["additionalProperties"] = infer([x for v in values for x in v.values()])
            elif keys:
                schema["properties"] = {k: infer([v[k] for v in values if k in v]) for k in keys}
                required = [k for k in keys if all(k in v for v in values)]
                if required:
                    schema["required"] = required
        elif kind == "array":
            items = [x for v in values for x in v]
            if items:
                schema["items"] = infer(items)
        branches.append(schema)
    if not branches:
        return {}
    if all(len(b) == 1 for b in branches) and len(branches) > 1:
        return {"type": [b["type"] for b in branches]}
    return branches[0] if len(branches) == 1 else {"anyOf": branches}


def _branches(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """An ``infer`` schema by JSON type (``{"type": [..]}`` and ``anyOf`` split up)."""
    if "anyOf" in schema:
        return {b["type"]: b for b in schema["anyOf"]}
    kinds = schema.get("type")
    if isinstance(kinds, list):
        return {k: {"type": k} for k in kinds}
    return {kinds: schema} if kinds else {}


def union(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    """The narrowest ``infer`` schema both fit: what an earlier run recorded plus what this one saw."""
    mine, theirs = _branches(first), _branches(second)
    if "integer" in mine and "number" in theirs or "number" in mine and "integer" in theirs:
        mine.pop("integer", None), theirs.pop("integer", None)
        mine.setdefault("number", {"type": "number"}), theirs.setdefault("number", {"type": "number"})
    branches = []
    for kind in sorted(set(mine) | set(theirs)):
        a, b = mine.get(kind), theirs.get(kind)
        if a is None or b is None:
            branches.append(a or b)
            continue
        merged: dict[str, Any] = {"type": kind}
        if kind == "object":
            if "additionalProperties" in a or "additionalProperties" in b:
                values = [s.get("additionalProperties", {}) for s in (a, b)]
                merged["additionalProperties"] = union(*values) if all(values) else {}
            else:
                pa, pb = a.get("properties", {}), b.get("properties", {})
                properties = {k: union(pa[k], pb[k]) if k in pa and k in pb else pa.get(k) or pb[k]
                              for k in sorted(set(pa) | set(pb))}
                if properties:
                    merged["properties"] = properties
                required = [k for k in a.get("required", []) if k in b.get("required", [])]
                if required:
                    merged["required"] = required
        elif kind == "array" and ("items" in a or "items" in b):
            merged["items"] = union(a["items"], b["items"]) if "items" in a and "items" in b else a.get("items") or b["items"]
        branches.append(merged)
    if not branches:
        return {}
    if all(len(b) == 1 for b in branches) and len(branches) > 1:
        return {"type": [b["type"] for b in branches]}
    return branches[0] if len(branches) == 1 else {"anyOf": branches}


# ------------------------------------------------------------------------------------------ merge
def _templates(document: dict[str, Any]) -> list[tuple[str, str, re.Pattern[str]]]:
    """(method, path template, regex) for every operation, literal paths before parameterised ones."""
    out = []
    for path, item in document["paths"].items():
        pattern = re.compile("^" + re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(path)) + "$")
        for method in item:
            out.append((method.upper(), path, pattern))
    return sorted(out, key=lambda t: (t[1].count("{"), -len(t[1])))


def _operation(templates: list[tuple[str, str, re.Pattern[str]]], method: str, path: str) -> str | None:
    return next((f"{m} {p}" for m, p, rx in templates if m == method and rx.match(path)), None)


def _document() -> dict[str, Any]:
    responses.answers.cache_clear()
    return build_openapi(create_app(None, Settings()).routes, "recording")


def merge(notes: list[dict[str, Any]], answers: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    """``answers`` updated with the operations and statuses the notes saw."""
    templates = _templates(document)
    seen: dict[str, dict[str, dict[str, Any]]] = defaultdict(lambda: defaultdict(
        lambda: {"apps": set(), "media": set(), "samples": []}))
    for note in notes:
        if not 200 <= note["status"] < 300:
            continue
        operation = _operation(templates, note["method"], note["path"])
        if operation is None or operation in _NOT_RECORDED:
            continue
        entry = seen[operation][str(note["status"])]
        if "app" in note:
            entry["apps"].add(note["app"])
        else:
            entry["media"].add(note["media"])
            if "body" in note:
                entry["samples"].append(note["body"])
    merged = {op: dict(statuses) for op, statuses in answers.items() if op not in _NOT_RECORDED}
    for operation, statuses in seen.items():
        for status, entry in statuses.items():
            old = merged.setdefault(operation, {}).get(status, {})
            apps = sorted(set(old.get("apps", [])) | entry["apps"])
            medias = entry["media"] or {old.get("media", "application/json")}
            media = "application/json" if "application/json" in medias else sorted(m or "" for m in medias)[0] or None
            new: dict[str, Any] = {}
            if apps:
                new["apps"] = apps
            if media != "application/json":
                new["media"] = media
            elif not apps:
                samples = entry["samples"]
                new["recorded"] = union(old.get("recorded", {}), infer(samples)) if samples else old.get("recorded", {})
            else:
                # answers the app schemas do not describe as plain JSON Schema reads them: another platform's
                # shape, a null an app would refuse, a number where Android's lenient decoder takes a string
                undecoded = [body for body in entry["samples"]
                             if not _fits(body, {"anyOf": [responses.app_schema_ref(a) for a in apps]})]
                if undecoded or old.get("others"):
                    new["others"] = union(old.get("others", {}), infer(undecoded))
            merged[operation][status] = new
    return {op: dict(sorted(merged[op].items())) for op in sorted(merged)}


def _fits(body: Any, schema: dict[str, Any]) -> bool:
    return Draft202012Validator({"components": {"schemas": responses.components()}, "allOf": [schema]}).is_valid(body)


def check(notes: list[dict[str, Any]], document: dict[str, Any]) -> tuple[int, list[str]]:
    """Validate every noted JSON answer against the document's schema for its operation and status."""
    templates = _templates(document)
    checked, problems = 0, []
    for note in notes:
        operation = _operation(templates, note["method"], note["path"])
        if "body" not in note or operation is None or not 200 <= note["status"] < 300:
            continue
        method, path = operation.split(" ", 1)
        response = document["paths"][path][method.lower()]["responses"].get(str(note["status"]), {})
        schema = response.get("content", {}).get("application/json", {}).get("schema")
        if schema is None:
            problems.append(f"{operation} {note['status']}: no schema documented")
            continue
        root = {"components": document["components"], "allOf": [schema]}
        errors = list(Draft202012Validator(root).iter_errors(note["body"]))
        checked += 1
        if errors:
            where = "/".join(map(str, errors[0].absolute_path)) or "(root)"
            problems.append(f"{operation} {note['status']} ({note['path']}): {where}: {errors[0].message[:200]}")
    return checked, problems


def main(argv: list[str]) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        notes_path = Path(tmp) / "notes.jsonl"
        notes_path.touch()
        os.environ[ENV] = str(notes_path)
        code = pytest.main(["-q", "-p", "no:cacheprovider", "-p", "tests.openapi_recorder", *(argv or ["tests/clients"])])
        del os.environ[ENV]
        notes = [json.loads(line) for line in notes_path.read_text().splitlines() if line.strip()]
    if code not in (0, 1):
        print(f"pytest stopped ({code}); answers.json not written", file=sys.stderr)
        return int(code)
    answers = json.loads(responses.ANSWERS_FILE.read_text()) if responses.ANSWERS_FILE.exists() else {}
    merged = merge(notes, answers, _document())
    responses.ANSWERS_FILE.write_text(json.dumps(merged, indent=1, sort_keys=False) + "\n")
    checked, problems = check(notes, _document())
    print(f"{len(notes)} notes, {len(merged)} operations in {responses.ANSWERS_FILE}; {checked} answers checked, {len(problems)} do not validate")
    for problem in problems[:50]:
        print("  " + problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
