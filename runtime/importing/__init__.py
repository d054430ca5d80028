"""Curriculum import from operator-configured course catalogs (``/api/import/sources*``, ``/api/import/status``)."""
