"""The Ollama backend on Ollama's native API (``/api/chat``, ``/api/tags``, ``/api/pull``…).

`wire` holds the pure request, stream and model-management mapping.
"""
