"""The service's use cases: agents, conversations, runs and their events, models, ghost runs.

They use ports only (`domain.ports`) and the existing application layer (`RunAgent`,
`BackendRegistry`); the HTTP API, the web page and the workers are driving adapters over them.
"""
