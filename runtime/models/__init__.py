"""The LLM models a tenant can use and its model settings (``/api/models*``): the ``models`` service."""
