"""The HTTP API: FastAPI routes over the service's use cases (`create_app`)."""

from adapters.http.app import create_app

__all__ = ["create_app"]
