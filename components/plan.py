"""Offline plan: `python -m components.plan <stack> [--json] [--stack-file PATH]`.

Runs `__main__.py` for the stack under Pulumi's mock engine (config from
`Pulumi.<stack>.yaml`; no credentials, no network), records every resource and prints the
resource tree by component, the monthly cost table (a line per priced resource with its
assumption, fixed and usage totals) and the policy findings.

`--json` prints one object:
`{"stack", "profile", "region", "resources": [{"type", "name", "parent", "component",
"inputs"}], "cost": {"monthly_usd", "fixed_usd", "usage_usd", "budget_usd",
"fixed_ceiling_usd", "lines": [...], "assumptions": {...}, "priced_at", "region"},
"findings": [{"rule", "resource", "severity", "message"}], "outputs": {...}}`
(secret inputs and outputs print as "[secret]").

Exit status: 0 clean; 1 a policy finding of severity `error` (budget overruns and unpriced
resources are such findings); 2 the stack config is invalid (one line on stderr naming the
key, nothing created) or the program failed.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import runpy
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional

import pulumi
import yaml
from pulumi.runtime import config as pulumi_config
from pulumi.runtime import settings
from pulumi.runtime.stack import run_pulumi_func

from components import mocks, policy, pricing
from components.config import PROJECT, ConfigError

ROOT = Path(__file__).resolve().parent.parent
SECRET_PLACEHOLDER = "plan-placeholder-secret"


@dataclass
class PlanRun:
    stack: str
    config: Any  # StackConfig
    recording: Any  # mocks.Recording
    outputs: dict


def read_stack_file(path: Path) -> tuple[dict[str, str], list[str]]:
    """Pulumi stack file -> (flat config as the engine passes it, secret keys).

    Structured values become JSON strings (what `pulumi up` hands the program); `secure:`
    values cannot be decrypted offline and become a placeholder marked secret."""
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        stacks = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in path.parent.glob("Pulumi.*.yaml"))
        raise StackFileError(f"no stack file {path}; the stacks here are: {', '.join(stacks) or 'none'}") from None
    except yaml.YAMLError as e:
        raise StackFileError(f"{path}: not valid YAML ({e})") from None
    raw = doc.get("config") or {}
    if not isinstance(raw, dict):
        raise StackFileError(f"{path}: `config:` must be a map of keys to values")
    flat: dict[str, str] = {}
    secret: list[str] = []
    for key, value in raw.items():
        key = str(key)
        if ":" not in key:
            raise StackFileError(f"{path}: key {key!r} has no namespace; write unamentis-cloud:{key}")
        if isinstance(value, dict) and set(value) == {"secure"}:
            flat[key] = SECRET_PLACEHOLDER
            secret.append(key)
        elif isinstance(value, (dict, list)):
            flat[key] = json.dumps(value)
        elif isinstance(value, bool):
            flat[key] = "true" if value else "false"
        elif value is None:
            continue
        else:
            flat[key] = str(value)
    return flat, secret


class StackFileError(ValueError):
    pass


def run_program(stack: str, stack_file: Optional[Path] = None,
                overrides: Optional[Mapping[str, Any]] = None, root: Path = ROOT) -> PlanRun:
    """Run `__main__.py` for `stack` under recording mocks. Raises ConfigError on bad config.

    `overrides` (tests): full config keys -> values (dicts/lists JSON-encoded like the file's);
    a value of None removes the key."""
    flat, secret_keys = read_stack_file(stack_file or root / f"Pulumi.{stack}.yaml")
    for k, v in (overrides or {}).items():
        if v is None:
            flat.pop(k, None)
        else:
            flat[k] = json.dumps(v) if isinstance(v, (dict, list, bool)) else str(v)
    # A fresh event loop per run, set before the mocks are installed: the mock engine binds
    # to the current loop, and a loop left closed by an earlier run must not be reused.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        monitor = mocks.install(stack, PROJECT, region=flat.get("aws:region") or "us-east-1")
        pulumi_config.set_all_config(flat, secret_keys)
        if str(root) not in sys.path:
            sys.path.insert(0, str(root))
        captured: dict = {}

        def program() -> None:
            cwd = os.getcwd()
            os.chdir(root)  # the program may read files relative to the project, as under `pulumi up`
            try:
                captured["globals"] = runpy.run_path(str(root / "__main__.py"), run_name="__main__")
            finally:
                os.chdir(cwd)

        loop.run_until_complete(run_pulumi_func(program))
        outputs = loop.run_until_complete(_resolve_outputs())
    finally:
        loop.close()
    cfg = captured["globals"].get("config")
    return PlanRun(stack=stack, config=cfg, recording=monitor.recording, outputs=outputs)


async def _resolve_outputs() -> dict:
    root = settings.get_root_resource()
    out: dict = {}
    for name, value in (getattr(root, "outputs", None) or {}).items():
        o = pulumi.Output.from_input(value)
        out[name] = mocks.REDACTED if await o.is_secret() else await o.future()
    return out


def build_report(run: PlanRun) -> dict:
    rec = run.recording
    cost = pricing.price_resources(rec, run.config)
    findings = policy.evaluate(rec, run.config, cost)
    return {
        "stack": run.stack,
        "profile": run.config.profile,
        "region": run.config.region,
        # Sorted: the engine registers resources concurrently, so recording order varies.
        "resources": sorted(({"type": r.type, "name": r.name, "parent": _parent_name(rec, r),
                              "component": rec.component_of(r), "inputs": r.redacted}
                             for r in rec.custom), key=lambda x: (x["component"], x["name"], x["type"])),
        "components": sorted(({"type": r.type, "name": r.name, "parent": _parent_name(rec, r)}
                              for r in rec.components), key=lambda x: x["name"]),
        "cost": cost.as_dict(),
        "findings": sorted((f.as_dict() for f in findings), key=lambda x: (x["rule"], x["resource"], x["message"])),
        "outputs": run.outputs,
    }


def _parent_name(rec, r) -> Optional[str]:
    p = rec.by_urn(r.parent)
    return p.name if p is not None else None


def exit_code(report: dict) -> int:
    return 1 if any(f["severity"] == "error" for f in report["findings"]) else 0


def render_text(report: dict, rec) -> str:
    lines = [f"Stack {report['stack']} (profile {report['profile']}, {report['region']})", ""]
    lines.append("Resources by component")
    by_parent: dict[Optional[str], list] = {}
    for r in rec.resources:
        by_parent.setdefault(r.parent, []).append(r)

    def walk(parent_urn: Optional[str], depth: int) -> None:
        for r in sorted(by_parent.get(parent_urn, []), key=lambda x: (x.custom, x.name)):
            if r.custom:
                lines.append(f"{'  ' * depth}- {r.name}  [{r.type}]")
            else:
                n = sum(1 for x in rec.resources if x.custom and _under(rec, x, r))
                lines.append(f"{'  ' * depth}+ {r.name}  ({r.type}, {n} resources)")
            walk(r.urn, depth + 1)

    roots = {r.parent for r in rec.resources if rec.by_urn(r.parent) is None}
    for p in sorted(roots, key=lambda x: x or ""):
        walk(p, 1)
    c = report["cost"]
    lines += ["", f"Monthly cost estimate (USD, {c['region']} prices as of {c['priced_at']})"]
    w = max([len(l["resource"]) for l in c["lines"]] + [8])
    for l in c["lines"]:
        lines.append(f"  {l['resource']:<{w}}  {l['monthly_usd']:>8.2f}  {l['kind']:<5}  "
                     f"{l['item']}: {l['assumption']}")
    lines.append(f"  {'fixed':<{w}}  {c['fixed_usd']:>8.2f}"
                 + (f"  (ceiling {c['fixed_ceiling_usd']:.2f})" if c.get("fixed_ceiling_usd") else ""))
    lines.append(f"  {'usage':<{w}}  {c['usage_usd']:>8.2f}")
    lines.append(f"  {'total':<{w}}  {c['monthly_usd']:>8.2f}  (budget {c['budget_usd']:.2f})")
    lines.append(f"  {'worst case':<{w}}  {c['monthly_worst_usd']:>8.2f}  (fixed {c['fixed_worst_usd']:.2f}; "
                 f"Spot lines at their worst-case price: Fargate Spot at "
                 f"{c['assumptions'].get('fargate_spot_discount_worst', 0):.0%} off, GPU Spot at on-demand)")
    if c.get("notes"):
        lines += [f"  note: {n}" for n in c["notes"]]
    if c.get("unpriced"):
        lines += [f"  UNPRICED: {u['name']} [{u['type']}]: {u['why']}" for u in c["unpriced"]]
    sources = sorted({s for l in c["lines"] for s in l.get("sources", [])})
    if sources:
        lines += ["", "Prices used (key: price; source, date, confidence A/B/C)"]
        lines += [f"  {s}" for s in sources]
    lines += ["", "Usage assumptions: " + ", ".join(f"{k}={v}" for k, v in c["assumptions"].items())]
    lines += ["", f"Policy findings: {len(report['findings'])}"]
    for f in report["findings"]:
        lines.append(f"  [{f['severity']}] {f['rule']} {f['resource']}: {f['message']}")
    return "\n".join(lines)


def _under(rec, r, ancestor) -> bool:
    p = rec.by_urn(r.parent)
    while p is not None:
        if p.urn == ancestor.urn:
            return True
        p = rec.by_urn(p.parent)
    return False


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m components.plan",
                                 description="Offline plan of a stack: resources, monthly cost, policy findings.")
    ap.add_argument("stack", help="stack name (reads Pulumi.<stack>.yaml)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--stack-file", type=Path, help="read the config from this file instead")
    a = ap.parse_args(argv)
    try:
        run = run_program(a.stack, stack_file=a.stack_file)
    except (ConfigError, StackFileError) as e:
        print(f"config error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # a bug in a component: say so plainly, with the traceback after
        print(f"plan: the program failed: {type(e).__name__}: {e}", file=sys.stderr)
        traceback.print_exc(file=sys.stderr)
        return 2
    report = build_report(run)
    text = json.dumps(report, indent=1, sort_keys=False, default=str) if a.json else render_text(report, run.recording)
    try:
        print(text, flush=True)
    except BrokenPipeError:
        # The reader went away (`plan prod --json | head`): not an error of the plan. Point stdout at
        # /dev/null so the interpreter's own flush at exit does not fail on the closed pipe again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return exit_code(report)


if __name__ == "__main__":
    sys.exit(main())
