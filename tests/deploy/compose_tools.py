"""Read deploy/compose/compose.yaml the way Docker Compose does: YAML (with merge keys), then
``${VAR}`` interpolation from an env file (``${VAR:-default}``, ``${VAR-default}``, ``${VAR:?error}``,
``${VAR?error}``, ``$$`` for a literal ``$``)."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "deploy" / "compose" / "compose.yaml"
ENV_EXAMPLE = ROOT / "deploy" / "compose" / ".env.example"
DOCKERFILE = ROOT / "runtime" / "Dockerfile"

_VAR = re.compile(r"\$(?:\$|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))")


class InterpolationError(ValueError):
    pass


def interpolate_text(text: str, env: Mapping[str, str]) -> str:
    def sub(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("name") or match.group("bare")
        op, arg = match.group("op"), match.group("arg") or ""
        value = env.get(name)
        if op in (":-", ":?"):
            unset = value is None or value == ""
        else:
            unset = value is None
        if op in (":-", "-"):
            return arg if unset else value  # type: ignore[return-value]
        if op in (":?", "?"):
            if unset:
                raise InterpolationError(f"{name}: {arg}")
            return value  # type: ignore[return-value]
        return value or ""

    return _VAR.sub(sub, text)


def interpolate(node: Any, env: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate_text(node, env)
    if isinstance(node, list):
        return [interpolate(item, env) for item in node]
    if isinstance(node, dict):
        return {key: interpolate(value, env) for key, value in node.items()}
    return node


def load_raw(path: Path = COMPOSE_FILE) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def load(env: Mapping[str, str], path: Path = COMPOSE_FILE) -> dict[str, Any]:
    return interpolate(load_raw(path), env)


def referenced_variables(path: Path = COMPOSE_FILE) -> dict[str, str | None]:
    """Every ``${VAR…}`` in the file → its operator (``None`` for a bare reference)."""
    found: dict[str, str | None] = {}
    for match in _VAR.finditer(path.read_text(encoding="utf-8")):
        name = match.group("name") or match.group("bare")
        if name:
            found.setdefault(name, match.group("op"))
    return found


def environment(service: Mapping[str, Any]) -> dict[str, str]:
    """A service's environment as a dict (map or ``KEY=value`` list form)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def dockerfile_entrypoint(path: Path = DOCKERFILE) -> list[str]:
    import json

    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("ENTRYPOINT "):
            return json.loads(line[len("ENTRYPOINT "):])
    raise AssertionError("runtime/Dockerfile has no exec-form ENTRYPOINT")
