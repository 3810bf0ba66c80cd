"""Moved to `adapters.llm.testing.scripted_server`; re-exported here for its many importers."""

from adapters.llm.testing.scripted_server import RecordedRequest, ScriptedResponse, ScriptedServer

__all__ = ["RecordedRequest", "ScriptedResponse", "ScriptedServer"]
