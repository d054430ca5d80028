"""Generated media: Mermaid flowcharts translated to DOT and drawn by Graphviz, formulas by matplotlib's
mathtext, maps from a tile server (a real HTTP server on loopback here) or the plain graticule."""
from __future__ import annotations

import base64
import io

import pytest
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

from runtime.media import diagrams, formulas, mermaid
from runtime.media.images import image_size
from tests.runtime.conftest import make_client

pytestmark = pytest.mark.skipif(not (diagrams.available() and formulas.available()),
                                reason="Graphviz (dot) and matplotlib are installed by .ci/run and the image")


def test_mermaid_flowchart_to_dot():
    dot, warnings = mermaid.to_dot("flowchart LR\n  A[Start] --> B{Choose}\n  B -->|yes| C((Done))\n"
                                   "  B -- no --> D[(Store)] --> A\n  C & D -.-> E\n  subgraph s1 [Group]\n  E\n  end\n"
                                   "  style A fill:#f9f  %% styling is skipped\n")
    assert "rankdir=LR;" in dot and '"A" [label="Start", shape=box];' in dot
    assert '"B" [label="Choose", shape=diamond];' in dot and '"C" [label="Done", shape=circle];' in dot
    assert '"B" -> "C" [label="yes"];' in dot and '"B" -> "D" [label="no"];' in dot and '"D" -> "A";' in dot
    assert '"C" -> "E" [style="dashed"];' in dot and '"D" -> "E" [style="dashed"];' in dot
    assert 'subgraph "cluster_s1" { label="Group";' in dot
    assert warnings == ["line 9: 'style' (styling) is not rendered"]
    for bad, message in (("sequenceDiagram\nA->>B: hi", "Only Mermaid flowcharts"), ("graph TD\nA[open --> B", "not closed"),
                         ("graph TD\nsubgraph x\nA-->B", "not closed with 'end'"), ("graph TD\nA --> ???", "expected a node id"), ("graph TD\nA --> B ???", "cannot read")):
        with pytest.raises(mermaid.MermaidError, match=message):
            mermaid.to_dot(bad)
    with pytest.raises(mermaid.MermaidError, match="more than 200 nodes"):
        mermaid.to_dot("graph TD\n" + "\n".join(f"n{i} --> n{i + 1}" for i in range(250)))


async def test_diagrams_are_drawn_by_graphviz():
    assert await diagrams.check("mermaid", "graph TD; A-->B") == ([], [])
    errors, _ = await diagrams.check("graphviz", "digraph { a -> }")
    assert errors and "syntax error" in errors[0]
    for code in ('digraph { a [image="/etc/passwd"] }', 'digraph { a [label=<<IMG SRC="/etc/hosts"/>>] }'):
        assert "reads files" in (await diagrams.check("dot", code))[0][0]
    for big in ("digraph { dpi=100000; a -> b }", 'digraph { size="900,900!"; a -> b }'):
        assert "dpi" in (await diagrams.check("graphviz", big))[0][0]
    assert (await diagrams.check("graphviz", 'digraph { size="7,5"; a -> b }')) == ([], [])
    assert "Java" in (await diagrams.check("plantuml", "@startuml\nA -> B\n@enduml"))[0][0]
    svg = await diagrams.run_dot(diagrams.to_dot("mermaid", "graph LR; A[Hello]-->B[World]")[0], "svg")
    assert b"<svg" in svg and b"Hello" in svg and image_size(svg)[0] > 50


def test_formulas_by_mathtext():
    assert formulas.check(r"\frac{a}{b} + \sqrt{x^2}") == ([], [])
    assert "does not parse" in formulas.check(r"\frac{a}{")[0][0]
    assert "\\begin" in formulas.check(r"\begin{align} x \end{align}")[0][0]
    assert "longer than" in formulas.check("x" * (formulas.MAX_LATEX_CHARS + 1))[0][0]
    small = formulas.render("E = mc^2", output="png")
    big = formulas.render("E = mc^2", output="png", font_size=32)
    assert image_size(big)[0] > image_size(small)[0] * 1.5
    with pytest.raises(formulas.FormulaError, match="color"):
        formulas.render("x", color="red; evil")


@pytest.fixture
def tiles(live_server):
    """A tile server on loopback: solid green tiles, 404 for zoom 9."""
    from PIL import Image

    asked: list[str] = []

    async def tile(request):
        asked.append(request.url.path)
        if request.path_params["z"] == "9":
            return Response(status_code=404)
        out = io.BytesIO()
        Image.new("RGB", (256, 256), (0, 160, 0)).save(out, format="PNG")
        return Response(out.getvalue(), media_type="image/png")

    server = live_server(Starlette(routes=[Route("/tiles/{z}/{x}/{y}.png", tile)]))
    return f"{server.url}/tiles/{{z}}/{{x}}/{{y}}.png", asked


async def test_media_routes(make_app, tenant, tiles):
    from PIL import Image

    template, asked = tiles
    _, beta = await tenant()
    app = make_app(["media", "auth"], map_tiles=(f"terrain={template}",), rate_limit_token=(100_000, 60.0))
    auth = {"Authorization": f"Bearer {beta}"}
    async with make_client(app) as c:
        caps = (await c.get("/api/media/capabilities", headers=auth)).json()
        assert caps["capabilities"]["diagrams"]["formats"] == ["mermaid", "graphviz"] and caps["formula_enabled"] is True
        assert caps["map_styles"] == ["plain", "terrain"]
        drawn = (await c.post("/api/media/diagrams/render", headers=auth,
                              json={"format": "mermaid", "code": "graph TD; A-->B", "outputFormat": "png"})).json()
        assert drawn["mimeType"] == "image/png" and base64.b64decode(drawn["data"]).startswith(b"\x89PNG")
        assert drawn["url"].startswith("data:image/png;base64,") and drawn["width"] > 0
        bad = await c.post("/api/media/diagrams/render", headers=auth, json={"type": "mermaid", "code": "pie\n\"a\": 1"})
        assert bad.status_code == 422 and bad.json()["success"] is False and "flowcharts" in bad.json()["message"]
        checked = (await c.post("/api/media/formulas/validate", headers=auth, json={"latex": r"\frac{1}{"})).json()
        assert checked["valid"] is False and checked["errors"]
        assert (await c.post("/api/media/formulas/render", headers=auth, json={"latex": "x", "fontSize": 500})).status_code == 422
        assert (await c.post("/api/media/formulas/render", headers=auth, json={})).status_code == 400
        # a map on the tile server: the tiles are under the markers; unknown styles fall back with a warning
        body = {"center": {"lat": 48.85, "lng": 2.35}, "zoom": 6, "width": 300, "height": 200, "style": "terrain",
                "markers": [{"latitude": 48.85, "longitude": 2.35, "label": "Paris"}]}
        shown = (await c.post("/api/media/maps/render", headers=auth, json=body)).json()
        image = Image.open(io.BytesIO(base64.b64decode(shown["data"]))).convert("RGB")
        assert image.size == (300, 200) and image.getpixel((5, 190)) == (0, 160, 0) and asked
        assert image.getpixel((150, 100)) != (0, 160, 0)  # the marker
        plain = (await c.post("/api/media/maps/render", headers=auth, json={**body, "style": "satellite"})).json()
        assert plain["renderMethod"] == "tiles:terrain" and "not configured" in plain["warnings"][0]
        missing = (await c.post("/api/media/maps/render", headers=auth, json={**body, "zoom": 9})).json()
        assert "could not be loaded" in missing["warnings"][0]
        assert (await c.post("/api/media/maps/render", headers=auth,
                             json={**body, "center": {"lat": 123, "lng": 0}})).status_code == 422
        assert (await c.post("/api/media/maps/render", headers=auth,
                             json={**body, "markers": [body["markers"][0]] * 51})).status_code == 422
        styles = await c.get("/api/media/maps/styles", headers={**auth, "X-Client-Platform": "Android"})
        assert styles.json() == ["plain", "terrain"]
        assert (await c.get("/api/media/capabilities")).status_code == 401
