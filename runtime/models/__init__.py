"""The models a deployment can use, the GPU fleet's Ollama controls and a tenant's model settings
(``/api/models*``, ``POST /api/system/unload-models``): the ``models`` service, served by the core."""
