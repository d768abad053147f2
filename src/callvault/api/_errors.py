"""The one place where callvault's errors become HTTP status codes.

Messages are the errors' own (they name the object and the fix and never contain
transcript text or audio); the body is `{"error": {"type": ..., "message": ...}}`.
"""

from __future__ import annotations

from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse

from callvault import errors

__all__ = ["STATUS", "error_json", "error_response", "status_of", "validation_error_response"]

# Most specific first: the first class an error is an instance of decides.
STATUS: tuple[tuple[type[errors.CallvaultError], int], ...] = (
    (errors.NotFound, 404),
    (errors.RecordingTooLong, 413),
    (errors.TooLarge, 413),
    (errors.RequestTimeout, 408),
    (errors.UnsupportedMedia, 415),
    (errors.ConsentRequired, 409),
    (errors.RecordingRefused, 409),
    (errors.ConfigError, 400),
    (errors.InputError, 400),
    (errors.AccountLocked, 403),
    (errors.NotAuthenticated, 401),
    (errors.NotAuthorized, 403),
    (errors.Restricted, 403),
    (errors.Quarantined, 409),
    (errors.ErasureRefused, 409),
    (errors.KeyDestroyed, 410),
    (errors.IntegrityError, 500),
    (errors.CrmPushError, 502),
    (errors.AnalysisError, 502),
    (errors.CaptureError, 422),
    (errors.TooManyAttempts, 429),
    (errors.Overloaded, 503),
    (errors.BlobStoreError, 503),
)


def status_of(error: errors.CallvaultError) -> int:
    for kind, status in STATUS:
        if isinstance(error, kind):
            return status
    return 500


def error_json(error: errors.CallvaultError, status: int | None = None) -> JSONResponse:
    """The JSON answer of `error`, with its status from `STATUS` unless given, and a
    `Retry-After` (RFC 9110 §10.2.3) when the error says when to try again."""
    retry_after = getattr(error, "retry_after", None)
    return JSONResponse(
        {"error": {"type": type(error).__name__, "message": str(error)}},
        status_code=status_of(error) if status is None else status,
        headers={"Retry-After": str(retry_after)} if isinstance(retry_after, int) else None,
    )


async def error_response(request: Request, error: Exception) -> JSONResponse:
    """The exception handler FastAPI calls for every CallvaultError."""
    assert isinstance(error, errors.CallvaultError)
    return error_json(error)


# What FastAPI's 422 says about each error, and no more: `input` repeats the value sent (a
# password posted with the wrong content type came back whole) and `ctx` can quote it.
_VALIDATION_KEYS = ("type", "loc", "msg")


async def validation_error_response(request: Request, error: Exception) -> JSONResponse:
    """FastAPI's 422 answer (`{"detail": [{"type", "loc", "msg"}]}`, the shape its OpenAPI
    schema declares) without the parts of an error that echo the request body."""
    assert isinstance(error, RequestValidationError)
    detail = [
        {key: item[key] for key in _VALIDATION_KEYS if key in item} for item in error.errors()
    ]
    return JSONResponse({"detail": jsonable_encoder(detail)}, status_code=422)
