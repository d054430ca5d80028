"""Check nested Cloudflare inputs against the INSTALLED pulumi-cloudflare SDK before use.

Nested inputs are plain dicts (the SDK's `...ArgsDict` shapes); a misspelt key inside one
(`aud_tag` for `aud_tags`, `ingress` for `ingresses`) would pass Python, reach the provider and
be dropped or rejected at `pulumi up`. `checked(ArgsClass, value)` walks the value along the
SDK's own `__init__` signatures and raises naming the bad path, so a wrong shape fails at plan
time, offline.
"""
from __future__ import annotations

import inspect
import re
from functools import lru_cache
from importlib.metadata import version
from typing import Any

import pulumi
import pulumi_cloudflare as cloudflare

_ARGS_REF = re.compile(r"ForwardRef\('([A-Za-z0-9]+Args)'\)")


@lru_cache(maxsize=None)
def _params(cls: type) -> dict[str, tuple[bool, str | None, bool]]:
    """name -> (required, nested Args class name or None, is a string-keyed map)."""
    out = {}
    for name, p in inspect.signature(cls.__init__).parameters.items():
        if name == "__self__" or p.kind is not p.KEYWORD_ONLY:
            continue
        ann = repr(p.annotation)
        nested = _ARGS_REF.search(ann)
        out[name] = (p.default is inspect.Parameter.empty, nested.group(1) if nested else None,
                     "Mapping[str" in ann)
    return out


def checked(cls: type, value: Any, path: str = "") -> Any:
    """Return `value` unchanged after checking its keys (recursively) against `cls`."""
    where = path or cls.__name__
    if value is None or isinstance(value, pulumi.Output):
        return value
    if isinstance(value, list):
        return [checked(cls, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, dict):
        raise TypeError(f"{where}: expected a mapping for {cls.__name__}, got {type(value).__name__}")
    params = _params(cls)
    for key in value:
        if key not in params:
            raise TypeError(f"{where}: {cls.__name__} has no argument {key!r} "
                            f"(pulumi-cloudflare {_version()}; known: {', '.join(sorted(params))})")
    for key, (required, _, _) in params.items():
        if required and value.get(key) is None:
            raise TypeError(f"{where}: {cls.__name__} requires {key!r}")
    for key, v in value.items():
        _, nested, is_map = params[key]
        if nested is None or v is None:
            continue
        sub = getattr(cloudflare, nested)
        if is_map and isinstance(v, dict):
            for k2, v2 in v.items():
                checked(sub, v2, f"{where}.{key}[{k2!r}]")
        else:
            checked(sub, v, f"{where}.{key}")
    return value


def _version() -> str:
    return version("pulumi-cloudflare")
