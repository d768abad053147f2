"""The HTTP API: FastAPI routers over `services/`, with authentication and RBAC.

Besides the app, the pieces the web pages share with it: who is asking (`principal`,
the session cookie and CSRF header names, `context_of`), the client's address, the
status code of an error, whether cookies must be Secure, and the streamed upload
reader.
"""

from callvault.api._auth import (
    CSRF_HEADER,
    SESSION_COOKIE,
    context_of,
    principal,
)
from callvault.api._client import client_address
from callvault.api._errors import status_of
from callvault.api._security import secure_cookies
from callvault.api._server import uvicorn_options
from callvault.api._upload import ReceivedUpload, receive_upload
from callvault.api.app import API_PREFIX, create_app

__all__ = [
    "API_PREFIX",
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "ReceivedUpload",
    "client_address",
    "context_of",
    "create_app",
    "principal",
    "receive_upload",
    "secure_cookies",
    "status_of",
    "uvicorn_options",
]
