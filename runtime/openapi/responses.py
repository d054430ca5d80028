"""The answer schemas of ``/api/openapi.json``.

Two sources, both in ``runtime/api_schemas``:

- the apps' decoder schemas (``<app>/<name>.json``, ``android.json``), the contract the client tests
  hold the runtime to; they become ``components/schemas`` named ``<app>.<name>``;
- ``answers.json``: per operation (``"GET /api/curricula/{id}"``) and status, which app schemas decode
  the answer (``"apps": ["ios/curriculum_detail", "android/CurriculumDetail", "android/Topic[]"]``),
  the media type when it is not JSON, and — where no app decodes it — the schema of the real answers
  recorded while the tests ran (``"recorded"``); ``"others"``: recorded answers none of its apps'
  schemas describe (another platform's shape), an extra ``anyOf`` branch. ``python -m tests.openapi_recorder`` writes it.
"""
from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from runtime.api_schemas import DIRECTORY

ANSWERS_FILE = DIRECTORY / "answers.json"
_BINARY = {"type": "string", "format": "binary"}


def _rewrite(node: Any, app: str, current: str, refs_to: str) -> Any:
    """Point a schema's ``$ref``s (``#/$defs/x``, ``other.json#/$defs/y``) at the document's components."""
    if isinstance(node, list):
        return [_rewrite(item, app, current, refs_to) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key in ("$schema", "$id"):
            continue
        if key == "$ref" and isinstance(value, str):
            file, _, pointer = value.partition("#")
            if app == "android":  # one file: its $defs are the components
                value = f"{refs_to}android.{pointer.removeprefix('/$defs/')}"
            else:
                name = file.removesuffix(".json") if file else current
                value = f"{refs_to}{app}.{name}{pointer}"
        out[key] = _rewrite(value, app, current, refs_to)
    return out


@lru_cache(maxsize=1)
def components() -> dict[str, Any]:
    """Every app schema, named ``<app>.<name>`` (Android: ``android.<Kotlin class>``)."""
    refs_to = "#/components/schemas/"
    schemas: dict[str, Any] = {}
    android = json.loads((DIRECTORY / "android.json").read_text())
    for name, schema in android.get("$defs", {}).items():
        schemas[f"android.{name}"] = _rewrite(schema, "android", name, refs_to)
    for folder in sorted(p for p in DIRECTORY.iterdir() if p.is_dir() and not p.name.startswith("_")):
        for path in sorted(folder.glob("*.json")):
            schemas[f"{folder.name}.{path.stem}"] = _rewrite(json.loads(path.read_text()), folder.name, path.stem, refs_to)
    return dict(sorted(schemas.items()))


@lru_cache(maxsize=1)
def answers() -> dict[str, dict[str, Any]]:
    return json.loads(ANSWERS_FILE.read_text()) if ANSWERS_FILE.exists() else {}


def app_schema_ref(app_schema: str) -> dict[str, Any]:
    """``"ios/curriculum_detail"`` -> a ``$ref``; ``"android/Topic[]"`` -> an array of them."""
    app, _, name = app_schema.partition("/")
    many = name.endswith("[]")
    ref = {"$ref": f"#/components/schemas/{app}.{name.removesuffix('[]')}"}
    return {"type": "array", "items": ref} if many else ref


def _response(status: str, entry: dict[str, Any]) -> dict[str, Any]:
    apps = entry.get("apps") or []
    media = entry.get("media", "application/json")
    if status == "204" or media is None:
        return {"description": "No content"}
    if media != "application/json":
        return {"description": f"The {media} body", "content": {media: {"schema": _BINARY}}}
    if apps:
        refs = [app_schema_ref(a) for a in apps] + ([entry["others"]] if entry.get("others") else [])
        schema = refs[0] if len(refs) == 1 else {"anyOf": refs}
        description = "Decoded by " + ", ".join(apps)
    else:
        schema, description = entry.get("recorded", {}), "As recorded from the runtime's answers"
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def documented(method: str, path: str) -> dict[str, Any]:
    """The recorded responses of ``METHOD path`` (OpenAPI ``responses`` entries, by status)."""
    return {status: _response(status, entry) for status, entry in answers().get(f"{method.upper()} {path}", {}).items()}


def with_declared(documented_: dict[str, Any], declared: dict[str, Any]) -> dict[str, Any]:
    """A route's declared answers, each widened by what the recorded answers of that status show
    (``anyOf``: the declared schema first), so a platform's own shape is not lost."""
    out = dict(declared)
    for status, response in declared.items():
        mine = response.get("content", {}).get("application/json", {}).get("schema") if isinstance(response, dict) else None
        seen = documented_.get(status, {}).get("content", {}).get("application/json", {}).get("schema")
        if mine is not None and seen is not None and seen != mine:
            out[status] = {**response, "content": {**response["content"], "application/json": {
                **response["content"]["application/json"], "schema": {"anyOf": [mine, seen]}}}}
    return out
