"""Structure of the recorded graph: component conventions and a deterministic plan."""
from __future__ import annotations

from components import plan


def test_children_are_parented_and_named_after_their_component(any_stack):
    rec = any_stack.recording
    for r in rec.resources:
        if r.type == "unamentis:platform:Platform":
            continue  # the one child of the stack itself
        parent = rec.by_urn(r.parent)
        assert parent is not None, f"{r.name} ({r.type}) has no parent: pass parent=self"
        assert r.name.startswith(parent.name), f"{r.name} is not named after its parent {parent.name}"
    platform = [c for c in rec.components if c.type == "unamentis:platform:Platform"]
    assert len(platform) == 1


def test_no_resource_names_collide(any_stack):
    names = [(r.type, r.name) for r in any_stack.recording.resources]
    assert len(names) == len(set(names))


def test_plan_is_deterministic():
    a = plan.build_report(plan.run_program("beta"))
    b = plan.build_report(plan.run_program("beta"))
    assert a == b
