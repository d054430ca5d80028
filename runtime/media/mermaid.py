"""Mermaid flowcharts (``graph`` / ``flowchart``) translated to Graphviz DOT.

Supported: the direction (TD, TB, BT, LR, RL); nodes with the shapes ``[text]``, ``(text)``,
``((text))``, ``([text])``, ``[[text]]``, ``[(text)]``, ``{text}``, ``{{text}}``, ``>text]``,
``[/text/]``, ``[\\text\\]``, quoted or not; links ``-->``, ``---``, ``-.->``, ``-.-``, ``==>``,
``===``, ``--o``, ``--x``, ``<-->``, ``~~~``, with labels as ``-->|text|`` or ``-- text -->``, chained
(``A --> B --> C``) and with ``&`` (``A & B --> C``); ``subgraph id [title]`` … ``end``; ``%%``
comments. Styling statements (``classDef``, ``class``, ``style``, ``linkStyle``, ``click``) are
skipped with a warning. Other Mermaid diagrams (sequence, class, state, gantt …) are refused.
Pure: no I/O.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

MAX_NODES = 200
MAX_EDGES = 500

_HEADER = re.compile(r"^\s*(graph|flowchart)(?:\s+(TD|TB|BT|LR|RL))?\s*;?\s*$", re.I)
_ID = re.compile(r"\s*([A-Za-z0-9_]+)")
# (opener, closer, DOT attributes), longest openers first.
_SHAPES: tuple[tuple[str, str, str], ...] = (
    ("(((", ")))", 'shape=doublecircle'),
    ("((", "))", 'shape=circle'),
    ("([", "])", 'shape=box, style="rounded"'),
    ("[[", "]]", 'shape=box, peripheries=2'),
    ("[(", ")]", 'shape=cylinder'),
    ("{{", "}}", 'shape=hexagon'),
    ("[/", "/]", 'shape=parallelogram'),
    ("[\\", "\\]", 'shape=parallelogram'),
    ("(", ")", 'shape=box, style="rounded"'),
    ("[", "]", 'shape=box'),
    ("{", "}", 'shape=diamond'),
    (">", "]", 'shape=cds'),
)
_LINKS: tuple[tuple[str, str], ...] = (
    ("<-->", "dir=both"), ("-.->", 'style="dashed"'), ("-.-", 'style="dashed", arrowhead=none'),
    ("==>", "penwidth=2"), ("===", "penwidth=2, arrowhead=none"), ("-->", ""), ("---", "arrowhead=none"),
    ("--o", "arrowhead=odot"), ("--x", "arrowhead=tee"), ("~~~", 'style="invis"'),
)
_TEXT_LINK = re.compile(r"\s*(--|==|-\.)\s+([^|>]+?)\s+(-->|==>|\.->|---|===)")
_SKIPPED = ("classdef", "class", "style", "linkstyle", "click", "direction")
_RANKDIR = {"TD": "TB", "TB": "TB", "BT": "BT", "LR": "LR", "RL": "RL"}


class MermaidError(ValueError):
    """The diagram is not a flowchart this translator reads; the message names the line."""


@dataclass
class _Graph:
    rankdir: str = "TB"
    nodes: dict[str, str] = field(default_factory=dict)  # id -> DOT attributes
    edges: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)  # DOT body, in order (subgraphs nest here)
    warnings: list[str] = field(default_factory=list)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _label(raw: str) -> str:
    text = raw.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1]
    return text.replace("<br>", "\n").replace("<br/>", "\n")


def _node(text: str, pos: int, graph: _Graph, line_no: int) -> tuple[str, int]:
    match = _ID.match(text, pos)
    if not match:
        raise MermaidError(f"line {line_no}: expected a node id at {text[pos:pos + 20]!r}")
    node_id, pos = match.group(1), match.end()
    attrs = None
    for opener, closer, shape in _SHAPES:
        if text.startswith(opener, pos):
            end = text.find(closer, pos + len(opener))
            if end < 0:
                raise MermaidError(f"line {line_no}: the shape of node {node_id!r} is not closed with {closer!r}")
            attrs = f"label={_quote(_label(text[pos + len(opener):end]))}, {shape}"
            pos = end + len(closer)
            break
    if node_id not in graph.nodes or attrs is not None:
        if node_id not in graph.nodes and len(graph.nodes) >= MAX_NODES:
            raise MermaidError(f"more than {MAX_NODES} nodes")
        graph.nodes[node_id] = attrs or f"label={_quote(node_id)}, shape=box"
        graph.lines.append(f"  {_quote(node_id)} [{graph.nodes[node_id]}];")
    return node_id, pos


def _nodes(text: str, pos: int, graph: _Graph, line_no: int) -> tuple[list[str], int]:
    """``A`` or ``A & B & C``."""
    ids = []
    while True:
        node_id, pos = _node(text, pos, graph, line_no)
        ids.append(node_id)
        amp = re.compile(r"\s*&").match(text, pos)
        if not amp:
            return ids, pos
        pos = amp.end()


def _link(text: str, pos: int) -> tuple[str, str | None, int] | None:
    """(DOT attributes, label, new position) of the link at ``pos``, or None."""
    labelled = _TEXT_LINK.match(text, pos)
    if labelled:
        kind = {"-->": "-->", "==>": "==>", ".->": "-.->", "---": "---", "===": "==="}[labelled.group(3)]
        attrs = dict(_LINKS)[kind]
        return attrs, labelled.group(2), labelled.end()
    stripped = len(text) - len(text[pos:].lstrip())
    at = stripped
    for token, attrs in _LINKS:
        if text.startswith(token, at):
            at += len(token)
            label = None
            bar = re.compile(r"\|([^|]*)\|").match(text, at)
            if bar:
                label, at = bar.group(1), bar.end()
            return attrs, label, at
    return None


def _statement(text: str, graph: _Graph, line_no: int) -> None:
    sources, pos = _nodes(text, 0, graph, line_no)
    while True:
        link = _link(text, pos)
        if link is None:
            break
        attrs, label, pos = link
        targets, pos = _nodes(text, pos, graph, line_no)
        for source in sources:
            for target in targets:
                if len(graph.edges) >= MAX_EDGES:
                    raise MermaidError(f"more than {MAX_EDGES} links")
                parts = [attrs] if attrs else []
                if label:
                    parts.append(f"label={_quote(_label(label))}")
                edge = f"  {_quote(source)} -> {_quote(target)}" + (f" [{', '.join(parts)}]" if parts else "") + ";"
                graph.edges.append(edge)
                graph.lines.append(edge)
        sources = targets
    if text[pos:].strip():
        raise MermaidError(f"line {line_no}: cannot read {text[pos:].strip()[:40]!r}")


def _split(line: str) -> list[str]:
    """Statements of one line: ``;`` outside brackets and quotes separates them."""
    parts, depth, quoted, current = [], 0, False, ""
    for char in line:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in "[({":
            depth += 1
        elif not quoted and char in "])}":
            depth = max(depth - 1, 0)
        if char == ";" and depth == 0 and not quoted:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [p for p in (part.strip() for part in parts) if p]


def to_dot(code: str) -> tuple[str, list[str]]:
    """(DOT source, warnings) of a Mermaid flowchart; MermaidError when it cannot be read."""
    lines = [line.split("%%", 1)[0].rstrip() for line in code.splitlines()]
    numbered = [(i + 1, line) for i, line in enumerate(lines) if line.strip()]
    if not numbered:
        raise MermaidError("The diagram is empty.")
    first_no, first = numbered[0]
    head, _, rest = first.strip().partition(";")
    header = _HEADER.match(head)
    if not header:
        kind = first.split()[0] if first.split() else ""
        raise MermaidError(f"Only Mermaid flowcharts ('graph TD', 'flowchart LR' …) can be rendered here, not {kind!r}.")
    graph = _Graph(rankdir=_RANKDIR[(header.group(2) or "TD").upper()])
    statements = [(first_no, s) for s in _split(rest)] + [(no, s) for no, line in numbered[1:] for s in _split(line)]
    depth = 0
    for line_no, statement in statements:
        word = statement.split()[0].lower()
        if word == "subgraph":
            title = statement[len("subgraph"):].strip()
            match = re.match(r"([A-Za-z0-9_\-]+)\s*(?:\[(.*)\])?\s*$", title)
            sub_id, sub_title = (match.group(1), match.group(2) or match.group(1)) if match else (f"sg{line_no}", title)
            graph.lines.append(f"  subgraph {_quote('cluster_' + sub_id)} {{ label={_quote(_label(sub_title))};")
            depth += 1
        elif word == "end":
            if depth == 0:
                raise MermaidError(f"line {line_no}: 'end' without a subgraph")
            graph.lines.append("  }")
            depth -= 1
        elif word in _SKIPPED:
            graph.warnings.append(f"line {line_no}: '{word}' (styling) is not rendered")
        else:
            _statement(statement, graph, line_no)
    if depth:
        raise MermaidError("A subgraph is not closed with 'end'.")
    body = "\n".join(graph.lines)
    dot = (f'digraph G {{\n  rankdir={graph.rankdir};\n  node [fontname="Helvetica", fontsize=12];\n'
           f'  edge [fontname="Helvetica", fontsize=10];\n{body}\n}}\n')
    return dot, graph.warnings
