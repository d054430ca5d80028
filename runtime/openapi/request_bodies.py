"""An endpoint's request body, read off its calls to the ``runtime.validation`` readers.

The readers are the one way a route reads its input, so the fields they read — type, bounds, required
or not — are exactly the body the route accepts. The endpoint's source is parsed and followed into the
runtime functions it hands the body or the request to, binding their parameters to what it passes
(``_id_list(body, "question_ids")`` reads ``question_ids``). ``body.get("x")``, ``body["x"]`` and
``"x" in body`` add a property of any type (the code checks it by hand). Nothing here runs a request.
"""
from __future__ import annotations

import ast
import builtins
import inspect
import operator
import re
import textwrap
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable

from runtime import validation

_MAX_DEPTH = 6
_UNKNOWN = object()
_BINARY = {"type": "string", "format": "binary"}
_ITEM_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean", dict: "object", list: "array"}
_OPERATORS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.FloorDiv: operator.floordiv}
# request methods that hand over the raw body without a reader
_RAW_READS = {"json": "application/json", "body": "application/octet-stream", "stream": "application/octet-stream",
              "form": "multipart/form-data"}


def _reader_schema(reader: Callable, args: list[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The JSON Schema of what ``reader(body, name, *args, **kwargs)`` accepts (unknown bounds left out)."""
    def known(name: str, default: Any = None) -> Any:
        value = kwargs.get(name, default)
        return None if value is _UNKNOWN else value

    if reader is validation.field_str:
        schema: dict[str, Any] = {"type": "string"}
        if known("max_len", 10_000) is not None:  # a limit the source names only by a variable is left out
            schema["maxLength"] = known("max_len", 10_000)
        if known("min_len", 0):
            schema["minLength"] = known("min_len")
        pattern = known("pattern")
        if pattern is not None:
            # the reader matches the whole value (re.fullmatch); a JSON Schema pattern matches anywhere
            schema["pattern"] = f"^(?:{pattern.pattern if isinstance(pattern, re.Pattern) else pattern})$"
        return schema
    if reader in (validation.field_int, validation.field_float):
        schema = {"type": "integer" if reader is validation.field_int else "number"}
        for keyword, bound in (("minimum", known("min")), ("maximum", known("max"))):
            if bound is not None:
                schema[keyword] = bound
        return schema
    if reader is validation.field_bool:
        return {"type": "boolean"}
    if reader is validation.field_enum:
        choices = args[0] if args else kwargs.get("choices", _UNKNOWN)
        if choices is _UNKNOWN or not isinstance(choices, (list, tuple, set, frozenset, dict)):
            return {"type": "string"}
        return {"type": "string", "enum": list(choices), "description": "Matched without regard to case."}
    if reader is validation.field_list:
        schema = {"type": "array"}
        if known("max_items", 1000) is not None:
            schema["maxItems"] = known("max_items", 1000)
        if known("min_items", 0):
            schema["minItems"] = known("min_items")
        item_type = known("item_type")
        types = item_type if isinstance(item_type, tuple) else (item_type,) if item_type else ()
        names = sorted({_ITEM_TYPES[t] for t in types if t in _ITEM_TYPES})
        if names:
            schema["items"] = {"type": names[0] if len(names) == 1 else names}
        return schema
    if reader is validation.field_dict:
        return {"type": "object"}
    if reader is validation.field_id:
        return {"type": "string", "pattern": validation.ID_RE.pattern}
    raise ValueError(f"not a field reader: {reader}")


_READERS = (validation.field_str, validation.field_int, validation.field_float, validation.field_bool,
            validation.field_enum, validation.field_list, validation.field_dict, validation.field_id)


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """An optional field also takes ``null`` (every reader treats null as absent)."""
    kind = schema.get("type")
    if isinstance(kind, str):
        schema = {**schema, "type": [kind, "null"]}
    if "enum" in schema:
        schema = {**schema, "enum": [*schema["enum"], None]}
    return schema


@dataclass
class _Body:
    """What one endpoint reads, filled in while its source (and its helpers') is walked."""

    json: dict[str, Any] = field(default_factory=lambda: {"type": "object"})
    form: dict[str, Any] = field(default_factory=lambda: {"type": "object"})
    media: set[str] = field(default_factory=set)
    optional: bool = False
    parsed: bool = False  # json_body ran: the body is an object (read_body alone: any JSON)
    seen: set[Any] = field(default_factory=set)


def _add(target: dict[str, Any], name: str, schema: dict[str, Any], required: bool) -> None:
    properties = target.setdefault("properties", {})
    if not properties.get(name):
        properties[name] = schema if required or not schema else _nullable(schema)
    if required and name not in target.setdefault("required", []):
        target["required"].append(name)


@lru_cache(maxsize=None)
def _parse(function: Callable) -> ast.AST | None:
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    except (OSError, TypeError, SyntaxError):
        return None
    return next((n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))), None)


class _Walk:
    """One function's source with its parameters bound: ``objects`` maps a variable to the body object
    (or a nested object of it) it holds, ``constants`` to a known value, ``requests`` names the request."""

    def __init__(self, function: Callable, body: _Body, bindings: dict[str, Any], depth: int) -> None:
        self.function, self.body, self.depth = function, body, depth
        self.names = getattr(function, "__globals__", {})
        self.objects: dict[str, dict[str, Any]] = {k: v[1] for k, v in bindings.items() if v[0] == "object"}
        self.constants: dict[str, Any] = {k: v[1] for k, v in bindings.items() if v[0] == "constant"}
        self.requests: set[str] = {k for k, v in bindings.items() if v[0] == "request"}

    # ---- values
    def resolve(self, node: ast.AST) -> Any:
        """A global name or attribute chain (``validation.field_str``, ``store.STATUSES``), else unknown."""
        if isinstance(node, ast.Name) and node.id not in self.objects and node.id not in self.requests:
            if node.id in self.constants:
                return self.constants[node.id]
            return self.names.get(node.id, getattr(builtins, node.id, _UNKNOWN))
        if isinstance(node, ast.Attribute):
            base = self.resolve(node.value)
            return _UNKNOWN if base is _UNKNOWN else getattr(base, node.attr, _UNKNOWN)
        return _UNKNOWN

    def value(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            items = [self.value(e) for e in node.elts]
            return _UNKNOWN if _UNKNOWN in items else tuple(items)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            inner = self.value(node.operand)
            return _UNKNOWN if inner is _UNKNOWN else -inner
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and not node.args \
                and node.func.attr in ("items", "keys", "values"):
            mapping = self.value(node.func.value)
            return tuple(getattr(mapping, node.func.attr)()) if isinstance(mapping, dict) else _UNKNOWN
        if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
            left, right = self.value(node.left), self.value(node.right)
            if _UNKNOWN in (left, right):
                return _UNKNOWN
            try:
                return _OPERATORS[type(node.op)](left, right)
            except TypeError:
                return _UNKNOWN
        return self.resolve(node)

    def target(self, node: ast.AST) -> dict[str, Any] | None:
        """The body object an expression holds: a tracked variable, ``await json_body(...)``, or
        ``field_dict(<object>, "name")`` (a nested object)."""
        if isinstance(node, ast.Await):
            node = node.value
        if isinstance(node, ast.Name):
            return self.objects.get(node.id)
        if isinstance(node, ast.Call):
            callee = self.resolve(node.func)
            if callee is validation.json_body:
                self.body.media.add("application/json")
                self.body.parsed = True
                allow_empty = next((self.value(k.value) for k in node.keywords if k.arg == "allow_empty"), False)
                self.body.optional = self.body.optional or allow_empty is True
                return self.body.json
            if callee is validation.multipart_file:
                self.body.media.add("multipart/form-data")
                name = next((self.value(k.value) for k in node.keywords if k.arg == "field"), "file")
                _add(self.body.form, name if isinstance(name, str) else "file", _BINARY, True)
                return self.body.form
            if callee is validation.field_dict and len(node.args) >= 2:
                parent, name = self.target(node.args[0]), self.value(node.args[1])
                if parent is not None and isinstance(name, str):
                    _add(parent, name, {"type": "object"}, False)
                    child = parent["properties"][name]
                    return child if isinstance(child.get("type"), str) or "properties" in child else None
        return None

    # ---- the walk
    def run(self) -> None:
        tree = _parse(self.function)
        if tree is None:
            return
        for _ in range(3):  # assignments can come in any order the walk meets them
            before = set(self.objects)
            for node in ast.walk(tree):
                self.assignment(node)
            if set(self.objects) == before:
                break
        self.visit(tree)

    def visit(self, tree: ast.AST) -> None:
        for node in ast.walk(tree):
            if isinstance(node, ast.For):
                self.loop(node)
            if isinstance(node, ast.Call):
                self.call(node)
            elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
                self.read(node.value, node.slice.value)
            elif isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], (ast.In, ast.NotIn)):
                self.read(node.comparators[0], self.value(node.left))

    def loop(self, node: ast.For) -> None:
        """``for name, limit in FIELDS.items(): field_str(body, name, max_len=limit)``: the body once per item."""
        items = self.value(node.iter)
        if items is _UNKNOWN or not isinstance(items, (tuple, list, dict, set, frozenset)):
            return
        names = [node.target] if isinstance(node.target, ast.Name) else getattr(node.target, "elts", [])
        if not names or not all(isinstance(n, ast.Name) for n in names):
            return
        saved = dict(self.constants)
        for item in items:
            values = (item,) if isinstance(node.target, ast.Name) else tuple(item)
            if len(values) != len(names):
                continue
            self.constants.update({n.id: v for n, v in zip(names, values)})  # type: ignore[attr-defined]
            for statement in node.body:
                self.visit(statement)
        self.constants = saved

    def assignment(self, node: ast.AST) -> None:
        if not isinstance(node, (ast.Assign, ast.AnnAssign, ast.NamedExpr)) or node.value is None:
            return
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        value = node.value.value if isinstance(node.value, ast.Await) else node.value
        for name_node in targets:
            if isinstance(name_node, ast.Tuple) and name_node.elts and isinstance(name_node.elts[0], ast.Name):
                # form, upload = await multipart_file(...): the form's other fields are read off ``form``
                if isinstance(value, ast.Call) and self.resolve(value.func) is validation.multipart_file:
                    self.objects[name_node.elts[0].id] = self.target(value)  # type: ignore[assignment]
            elif isinstance(name_node, ast.Name):
                found = self.target(value)
                if found is not None:
                    self.objects[name_node.id] = found

    def read(self, holder: ast.AST, name: Any) -> None:
        target = self.target(holder) if isinstance(holder, ast.Name) else None
        if target is not None and isinstance(name, str):
            _add(target, name, {}, False)

    def call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            if func.value.id in self.requests and func.attr in _RAW_READS:
                self.body.media.add(_RAW_READS[func.attr])
                return
            if func.attr == "get" and node.args:
                self.read(func.value, self.value(node.args[0]))
                return
        callee = self.resolve(func)
        if callee is _UNKNOWN:
            return
        if callee in _READERS:
            self.field(callee, node)
        elif callee is validation.read_body:
            self.body.media.add("application/json")
        elif callee in (validation.json_body, validation.multipart_file, validation.field_dict):
            self.target(node)
        elif self.depth < _MAX_DEPTH:
            self.follow(callee, node)

    def field(self, reader: Callable, node: ast.Call) -> None:
        if len(node.args) < 2:
            return
        target, name = self.target(node.args[0]), self.value(node.args[1])
        if target is None or not isinstance(name, str):
            return
        kwargs = {k.arg: self.value(k.value) for k in node.keywords if k.arg}
        schema = _reader_schema(reader, [self.value(a) for a in node.args[2:]], kwargs)
        _add(target, name, schema, kwargs.get("required") is True)

    def follow(self, callee: Any, node: ast.Call) -> None:
        """Walk a runtime function that is handed the body (or part of it) or the request."""
        function = inspect.unwrap(callee) if callable(callee) else None
        if not inspect.isfunction(function) or not function.__module__.startswith("runtime."):
            return
        passed: list[tuple[str, Any]] = []
        try:
            signature = inspect.signature(function)
            arguments = [a for a in node.args if not isinstance(a, ast.Starred)]
            bound = signature.bind_partial(*arguments, **{k.arg: k.value for k in node.keywords if k.arg})
        except (TypeError, ValueError):
            return
        bound.apply_defaults()
        for name, argument in bound.arguments.items():
            if not isinstance(argument, ast.AST):
                if isinstance(argument, (str, int, float, bool, tuple)):  # a default value
                    passed.append((name, ("constant", argument)))
                continue
            target = self.target(argument)
            if target is not None:
                passed.append((name, ("object", target)))
            elif isinstance(argument, ast.Name) and argument.id in self.requests:
                passed.append((name, ("request", None)))
            else:
                constant = self.value(argument)
                if isinstance(constant, (str, int, float, bool, tuple)):
                    passed.append((name, ("constant", constant)))
        if not any(kind in ("object", "request") for _name, (kind, _value) in passed):
            return
        key = (function, tuple((n, k, id(v) if k == "object" else v) for n, (k, v) in passed))
        if key in self.body.seen:
            return
        self.body.seen.add(key)
        _Walk(function, self.body, dict(passed), self.depth + 1).run()


def request_body(endpoint: Callable) -> dict[str, Any] | None:
    """The OpenAPI ``requestBody`` of ``endpoint``, or None when it reads no body."""
    function = inspect.unwrap(endpoint)
    tree = _parse(function) if inspect.isfunction(function) else None
    if tree is None or not isinstance(tree, (ast.FunctionDef, ast.AsyncFunctionDef)) or not tree.args.args:
        return None
    body = _Body()
    _Walk(function, body, {tree.args.args[0].arg: ("request", None)}, 0).run()
    if not body.media:
        return None
    content: dict[str, Any] = {}
    for media in sorted(body.media):
        if media == "application/json":
            content[media] = {"schema": body.json if body.parsed else {"description": "Any JSON; the route checks it"}}
        elif media == "multipart/form-data":
            content[media] = {"schema": body.form}
        else:
            content[media] = {"schema": _BINARY}
    return {"required": not body.optional, "content": content}
