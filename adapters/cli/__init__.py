"""The ``cw`` command line: run agents, chat, list backends and models, manage Ollama models.

The console script's entry point is `adapters.cli.main.main`; each command lives in its own
module (`run`, `models`, `demo`).
"""
