"""Client metrics, heartbeats and logs (``/api/metrics*``, ``/api/clients*``, ``/api/logs``): the
``telemetry`` service."""
