"""Hostile bodies and queries to the import, media, list and reprocess routes: a 4xx, never a 500."""
from __future__ import annotations

import itertools
from tests.runtime.conftest import make_client
from tests.runtime.content.conftest import bearer, sign_in_admin
from tests.clients import support

BODIES = [None, "", "[]", "null", '"x"', "{", '{"code": 5}', '{"latex": []}', '{"center": "x"}', '{"center": {"lat": "a"}}',
          '{"markers": {}}', '{"routes": [5]}', '{"routes": [{"points": [1]}]}', '{"items": "x"}', '{"items": [1]}',
          '{"name": null}', '{"sourceId": 5}', '{"sourceId": "mit-ocw", "courseId": 7}', '{"selectedLectures": "x"}',
          '{"curriculumId": ["x"]}', '{"format": "mermaid", "code": "graph TD\\n' + 'A-->' * 300 + 'B"}',
          '{"latex": "\\\\frac{\\\\frac{\\\\frac{a}{b}}{c}}"}', '{"zoom": 99, "center": {"lat": 0, "lng": 0}}',
          '{"size": {"width": "x"}, "center": {"lat": 0, "lng": 0}}', '{"fontSize": "big", "latex": "x"}']
PATHS = [("POST", "/api/media/diagrams/validate"), ("POST", "/api/media/diagrams/render"), ("POST", "/api/media/formulas/validate"),
         ("POST", "/api/media/formulas/render"), ("POST", "/api/media/maps/render"), ("POST", "/api/import/jobs"),
         ("POST", "/api/lists"), ("PUT", "/api/lists/00000000-0000-0000-0000-000000000000"),
         ("POST", "/api/lists/00000000-0000-0000-0000-000000000000/items"), ("POST", "/api/reprocess/jobs"),
         ("POST", "/api/reprocess/preview/solar-system-intro"), ("GET", "/api/import/sources/mit-ocw/courses?page=x"),
         ("GET", "/api/import/sources/%00/courses"), ("GET", "/api/import/sources/mit-ocw/search?q="),
         ("GET", "/api/lists/memberships?courseIds=" + "a," * 500)]

async def test_no_500(content_app, tenant, database):
    tid, beta = await tenant()
    async with make_client(content_app(None, import_catalogs=(str(support.CATALOG),))) as c:
        admin = bearer(await sign_in_admin(c, database, tid, beta))
        bad = []
        for (method, path), body in itertools.product(PATHS, BODIES):
            r = await c.request(method, path, content=body, headers={**admin, "Content-Type": "application/json"})
            if r.status_code >= 500:
                bad.append((method, path, body, r.status_code, r.text[:200]))
        assert not bad, bad
