"""What every component of the library shares: its type token and a `transform` hook per child.

`Component` is the base of every `ComponentResource` here. Its type token is
`unamentis:<module>:<ClassName>` (the module is the component's module under `components/`,
e.g. `unamentis:network:Network`, `unamentis:edge:Edge`).

Transforms, the way SST v3 components offer them (https://sst.dev/docs/components#transform,
read 2026-12): every component's args take `transform={<child kind>: <transform>}` and the
component applies it while it creates each child of that kind, before the resource exists.
A child's kind is named where the component creates it, by default its resource class in lower
camel case (`vpc`, `subnet`, `logGroup`, `function`, `randomPassword` …; `discoveryService`
where two classes share a name); each component lists its kinds in `CHILDREN`, and a key
that is not one of them fails at once (a typo must not be ignored). A transform is either

- a mapping, merged over the child's arguments: `{"tags": {...}}`, or
- a function `(args, opts, name)` that edits `args` (a dict of the resource's keyword
  arguments) and `opts` (its `pulumi.ResourceOptions`) in place, or returns new
  `(args, opts)`.

Whatever a transform does, the child keeps `parent=self` and the name the component gave it.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Optional, TypeVar, Union

import pulumi

TransformFn = Callable[[dict[str, Any], pulumi.ResourceOptions, str],
                       Optional[tuple[dict[str, Any], pulumi.ResourceOptions]]]
Transform = Union[Mapping[str, Any], TransformFn]
Transforms = Mapping[str, Transform]

R = TypeVar("R", bound=pulumi.Resource)


def type_token(cls: type) -> str:
    """`unamentis:<module>:<ClassName>`: the module is the first part under `components.`."""
    module = cls.__module__.removeprefix("components.").split(".")[0]
    return f"unamentis:{module}:{cls.__name__}"


class ArgsError(ValueError):
    """A component's argument is wrong, said in the component's own terms:
    `<ArgsClass>.<field>: <problem>. Fix: <how>`. The stack layer turns it into the config key."""

    def __init__(self, args_name: str, field: str, problem: str, fix: str):
        self.args_name, self.field, self.problem, self.fix = args_name, field, problem, fix
        super().__init__(f"{args_name}.{field}: {problem}. Fix: {fix}")


class Component(pulumi.ComponentResource):
    """A component of this library: create children with `self.child(...)`."""

    # The kinds of child resource this component may create (keys of its `transform`).
    CHILDREN: tuple[str, ...] = ()

    def __init__(self, name: str, transform: Optional[Transforms] = None,
                 opts: Optional[pulumi.ResourceOptions] = None, args_name: Optional[str] = None):
        super().__init__(type_token(type(self)), name, None, opts)
        self._transform = dict(transform or {})
        unknown = sorted(set(self._transform) - set(self.CHILDREN))
        if unknown:
            raise ArgsError(args_name or f"{type(self).__name__}Args", "transform",
                            f"{', '.join(map(repr, unknown))} is not a child of {type(self).__name__}",
                            f"use one of {', '.join(self.CHILDREN)}")

    def child(self, kind: str, resource_class: Callable[..., R], resource_name: str, /, **kwargs: Any) -> R:
        """Create one child resource of `kind` named `resource_name`: `kwargs` are its arguments
        (and `opts`), passed through the transform of its kind; the child gets `parent=self`."""
        if kind not in self.CHILDREN:  # the component's own list is out of date
            raise TypeError(f"{type(self).__name__} creates a {kind} but does not list it in CHILDREN")
        opts = kwargs.pop("opts", None) or pulumi.ResourceOptions()
        transform = self._transform.get(kind)
        if transform is not None:
            if callable(transform):
                changed = transform(kwargs, opts, resource_name)
                if changed is not None:
                    kwargs, opts = changed
            else:
                kwargs = {**kwargs, **transform}
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(parent=self))
        return resource_class(resource_name, **kwargs, opts=opts)
