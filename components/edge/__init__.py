"""The Cloudflare edge: `Edge`, `EdgeRouting` and their typed args.

See `components/edge/component.py` for what each creates and what it costs; the rule
expressions are in `rules.py`, the edge router Worker's deployable pieces in `worker.py`
(source and tests: `components/edge_worker/`).
"""
from components.edge.component import Edge, EdgeArgs, EdgeRouting, EdgeRoutingArgs

__all__ = ["Edge", "EdgeArgs", "EdgeRouting", "EdgeRoutingArgs"]
