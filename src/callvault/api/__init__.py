"""The HTTP API: FastAPI routers over `services/`, with authentication and RBAC."""

from callvault.api._server import uvicorn_options
from callvault.api.app import API_PREFIX, create_app

__all__ = ["API_PREFIX", "create_app", "uvicorn_options"]
