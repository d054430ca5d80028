"""The container app's /api/openapi.json describes every body and answer, and is valid OpenAPI 3.1.

An operation without a documented answer, or a write without a request body schema while its
endpoint reads one, fails here: record the route's answers with ``python -m tests.openapi_recorder
<the tests that call it>`` (README, "API description").
"""
from __future__ import annotations

import inspect
import json
import re

import pytest
from openapi_spec_validator import validate

from core.probe import echo
from runtime.app import create_app
from runtime.health import _walk, build_openapi
from runtime.openapi.request_bodies import request_body
from runtime.settings import Settings
from tests.openapi_recorder import infer, union

WRITES = ("post", "put", "patch")
# Reading the body by any means the request-body reader would have to see.
BODY_READS = re.compile(r"json_body\(|read_body\(|multipart_file\(|request\.(json|body|form|stream)\(")


@pytest.fixture(scope="module")
def document():
    app = create_app(None, Settings())
    endpoints = {re.sub(r"{(\w+)(:\w+)?}", r"{\1}", prefix + route.path): route.endpoint
                 for prefix, route in _walk(app.routes)}
    return build_openapi(app.routes, "test"), endpoints


def _operations(doc):
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def _has_answer_schema(operation) -> bool:
    for status, response in operation["responses"].items():
        if status == "default":
            continue
        if status == "204" or any("schema" in media for media in response.get("content", {}).values()):
            return True
    return False


def test_the_document_is_valid_openapi(document):
    doc, _endpoints = document
    validate(doc)
    text = json.dumps(doc)
    components = doc["components"]["schemas"]
    for ref in set(re.findall(r'"\$ref": "#/components/schemas/([^"/]+)', text)):
        assert ref in components, f"$ref to a missing component schema: {ref}"


def test_every_operation_documents_its_answer(document):
    doc, _endpoints = document
    missing = [f"{method.upper()} {path}" for path, method, op in _operations(doc) if not _has_answer_schema(op)]
    assert not missing, ("operations without an answer schema (record them: python -m tests.openapi_recorder "
                         "<tests that call them>):\n  " + "\n  ".join(missing))


def test_every_write_that_reads_a_body_documents_it(document):
    doc, endpoints = document
    missing = []
    for path, method, op in _operations(doc):
        if method not in WRITES or "requestBody" in op:
            continue
        endpoint = endpoints.get(path)
        source = inspect.getsource(endpoint) if endpoint is not None else ""
        if endpoint is None or BODY_READS.search(source):
            missing.append(f"{method.upper()} {path}")
    assert not missing, "writes whose body is not described:\n  " + "\n  ".join(missing)
    with_body = sum(1 for _p, m, op in _operations(doc) if m in WRITES and "requestBody" in op)
    assert with_body >= 60


def test_request_body_follows_the_validation_readers():
    body = request_body(echo)
    schema = body["content"]["application/json"]["schema"]
    assert body["required"] is True
    assert schema["required"] == ["name"]
    props = schema["properties"]
    assert props["name"] == {"type": "string", "maxLength": 10}
    assert props["count"] == {"type": ["integer", "null"], "minimum": 0, "maximum": 5}
    assert props["mode"]["enum"] == ["fast", "slow", None]
    assert props["flag"] == {"type": ["boolean", "null"]}
    assert props["tags"] == {"type": ["array", "null"], "maxItems": 3, "items": {"type": "string"}}


def test_request_bodies_of_real_routes(document):
    doc, _endpoints = document
    paths = doc["paths"]
    # the fields are read by a helper the route hands the body to, with the field name as an argument
    dedup = paths["/api/kb/packs/preview-dedup"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert dedup["required"] == ["source_pack_ids"] and dedup["properties"]["source_pack_ids"]["type"] == "array"
    # a loop over a constant table of fields
    me = paths["/api/auth/me"]["patch"]["requestBody"]["content"]["application/json"]["schema"]
    assert {"display_name", "avatar_url", "locale", "timezone"} <= set(me["properties"])
    # an optional body (json_body(allow_empty=True)) and a multipart upload
    assert paths["/api/auth/logout"]["post"]["requestBody"]["required"] is False
    assert "multipart/form-data" in paths["/api/curricula"]["post"]["requestBody"]["content"]
    assert "requestBody" not in paths["/api/sessions/{id}/pause"]["post"]


def test_answers_name_the_app_schemas(document):
    doc, _endpoints = document
    module = doc["paths"]["/api/modules/{id}"]["get"]["responses"]["200"]
    branches = module["content"]["application/json"]["schema"]["anyOf"]
    assert {"$ref": "#/components/schemas/ios.module_detail"} in branches
    assert {"$ref": "#/components/schemas/android.ModuleDetail"} in branches
    assert module["description"].startswith("Decoded by")
    models = doc["paths"]["/api/models"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert {"type": "array", "items": {"$ref": "#/components/schemas/android.ModelInfo"}} in models["anyOf"]
    # an app schema's own references point into the components
    assert "#/components/schemas/ios.umcf_document" in json.dumps(doc["components"]["schemas"])


def test_recorded_schemas_widen_and_narrow_as_the_samples_say():
    first = infer([{"a": 1, "b": "x"}, {"a": 2}])
    assert first == {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "string"}},
                     "required": ["a"]}
    second = infer([{"a": 1.5, "c": [1]}, None])
    merged = union(first, second)
    assert merged["anyOf"][0] == {"type": "null"}
    assert merged["anyOf"][1]["required"] == ["a"]
    assert merged["anyOf"][1]["properties"]["a"] == {"type": "number"}
    assert set(merged["anyOf"][1]["properties"]) == {"a", "b", "c"}
    assert union({}, first) == first and infer([]) == {}
