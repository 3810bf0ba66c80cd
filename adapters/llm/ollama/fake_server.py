"""Moved to `adapters.llm.testing.ollama_server`; re-exported here for its many importers."""

from adapters.llm.testing.ollama_server import DEFAULT_MODELS, FakeOllamaServer

__all__ = ["DEFAULT_MODELS", "FakeOllamaServer"]
