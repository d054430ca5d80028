"""Curriculum lists (``/api/lists*``): named collections of catalog courses, per tenant."""
