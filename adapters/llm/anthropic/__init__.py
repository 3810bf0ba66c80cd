"""The Anthropic Claude backend (registered as ``claude``): the Messages API over HTTP.

`wire` holds the pure mapping of requests, replies and stream events.
"""
