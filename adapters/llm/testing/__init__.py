"""Loopback stand-ins for model servers, for tests, the bench and ``cw serve --demo``.

- `scripted_server`: `ScriptedServer`, a real HTTP server on 127.0.0.1 answering each request
  with the next scripted reply (`ScriptedResponse`), and recording what it was sent
  (`RecordedRequest`); the fake backend's transport serves the same `ScriptedResponse` values.
- `ollama_server`: `FakeOllamaServer`, a loopback Ollama (chat, tags, show, pull, delete) on
  top of `ScriptedServer`.
"""
