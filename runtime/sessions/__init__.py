"""Tutoring sessions (``/api/sessions*``, ``/api/fov/health``): the ``sessions`` service's routes.
Context building and confidence analysis are ``runtime.tutoring``."""
