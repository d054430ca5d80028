"""Generated media for curricula: formulas (matplotlib mathtext), diagrams (Graphviz, Mermaid flowcharts
translated to DOT) and maps (tiles of an operator-configured tile server); ``/api/media/*``."""
