"""Receiving an uploaded recording: a multipart body parsed as it streams in, its file
part written straight into an encrypted spool (issue 17, finding 3).

Starlette's form parser spools a file part to a `SpooledTemporaryFile`, which lands in
the system temporary directory as plaintext audio once it passes 1 MiB, and the route
then read it whole into memory. Here the caller is authenticated on the headers before
this runs; text fields are kept (a few, short); `before_file` decides, from the fields
seen so far, whether the file may be received at all (the CSRF token of a browser form,
the agent's reach) before its first byte is written; and the file goes chunk by chunk
through AES-GCM into the data directory's spool. The size limit and the timeouts are
those of `BodyLimits`, which wraps the `receive` this reads from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request

from callvault.errors import InputError
from callvault.services import Context, EncryptedSpool, new_spool

__all__ = ["UPLOAD_BODY_SCHEMA", "ReceivedUpload", "receive_upload"]

_MAX_FIELDS = 32
_MAX_FIELD_BYTES = 8192
_MAX_HEADER_BYTES = 8192

# The multipart body of POST /api/v1/calls as OpenAPI declares it (the route reads the
# stream itself, so FastAPI cannot derive it from parameters).
UPLOAD_BODY_SCHEMA: dict[str, object] = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {
                        "type": "string",
                        "format": "binary",
                        "description": "The recording (WAV, FLAC, MP3, Opus, ...); send it "
                        "after the other fields",
                    },
                    **{
                        name: {"type": "string"}
                        for name in (
                            "caller",
                            "callee",
                            "direction",
                            "agent",
                            "started_at",
                            "language",
                            "consent",
                        )
                    },
                    "channels": {
                        "type": "string",
                        "description": "The role of each channel of a stereo file, in order: "
                        "agent,customer or customer,agent (needs direction inbound or "
                        "outbound); left out, channel 0 is the caller and channel 1 the callee.",
                    },
                },
            }
        }
    },
}


@dataclass
class ReceivedUpload:
    """The text fields of an upload and its file, encrypted in a spool (None when the
    form had no file part). `close` removes the spool."""

    fields: dict[str, str]
    spool: EncryptedSpool | None = None
    filename: str = "upload"

    def close(self) -> None:
        if self.spool is not None:
            self.spool.close()


@dataclass
class _Part:
    headers: dict[str, str] = field(default_factory=dict)
    name: str = ""
    filename: str | None = None
    text: bytearray = field(default_factory=bytearray)


class _Events:
    """python-multipart's callbacks, turned into work for `receive_upload`."""

    def __init__(self) -> None:
        self.parts: list[_Part] = []
        self.current = _Part()
        self.header_field = bytearray()
        self.header_value = bytearray()
        self.header_bytes = 0
        self.fields: dict[str, str] = {}
        self.data: list[bytes] = []  # file bytes of this write, in order
        # File parts whose headers just finished, with the fields that came before them.
        self.files: list[tuple[_Part, dict[str, str]]] = []

    def callbacks(self) -> dict[str, Callable[..., None]]:
        return {
            "on_part_begin": self.part_begin,
            "on_part_data": self.part_data,
            "on_part_end": self.part_end,
            "on_header_field": self.field,
            "on_header_value": self.value,
            "on_header_end": self.header_end,
            "on_headers_finished": self.headers_finished,
        }

    def part_begin(self) -> None:
        self.current = _Part()

    def field(self, data: bytes, start: int, end: int) -> None:
        self._count(end - start)
        self.header_field += data[start:end]

    def value(self, data: bytes, start: int, end: int) -> None:
        self._count(end - start)
        self.header_value += data[start:end]

    def _count(self, size: int) -> None:
        self.header_bytes += size
        if self.header_bytes > _MAX_HEADER_BYTES:
            raise InputError("the upload's part headers are too long")

    def header_end(self) -> None:
        name = self.header_field.decode("latin-1").lower()
        self.current.headers[name] = self.header_value.decode("latin-1")
        self.header_field, self.header_value = bytearray(), bytearray()

    def headers_finished(self) -> None:
        disposition, options = parse_options_header(
            self.current.headers.get("content-disposition", "")
        )
        if disposition != b"form-data" or b"name" not in options:
            raise InputError("an upload part has no Content-Disposition form-data name")
        self.current.name = options[b"name"].decode("utf-8", "replace")
        if b"filename" in options:
            self.current.filename = options[b"filename"].decode("utf-8", "replace")
        self.parts.append(self.current)
        if self.current.filename is not None:
            self.files.append((self.current, dict(self.fields)))
        elif len(self.parts) > _MAX_FIELDS:
            raise InputError(f"the upload has more than {_MAX_FIELDS} fields")

    def part_data(self, data: bytes, start: int, end: int) -> None:
        part = self.current
        if part.filename is None:
            part.text += data[start:end]
            if len(part.text) > _MAX_FIELD_BYTES:
                raise InputError(f"the form field {part.name!r} is longer than 8 KiB")
        else:
            self.data.append(data[start:end])

    def part_end(self) -> None:
        part = self.current
        if part.filename is None:
            self.fields[part.name] = part.text.decode("utf-8", "replace")


async def receive_upload(
    request: Request,
    ctx: Context,
    *,
    before_file: Callable[[dict[str, str]], None],
    file_field: str = "file",
) -> ReceivedUpload:
    """Parse the request's multipart body as it arrives; the part `file_field` goes into
    an encrypted spool once `before_file(fields so far)` returned (it raises to refuse:
    then nothing of the file was written). InputError for a body that is not a
    well-formed form with at most one file."""
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise InputError("send the recording as multipart/form-data with a file part 'file'")
    events = _Events()
    parser = MultipartParser(boundary, events.callbacks())  # type: ignore[arg-type]
    upload = ReceivedUpload({})
    file_part: _Part | None = None
    try:
        async for chunk in request.stream():
            if not chunk:
                continue
            try:
                parser.write(chunk)
            except FormParserError:
                raise InputError("the upload is not a well-formed multipart form") from None
            for part, fields in events.files:
                if part.name != file_field or file_part is not None:
                    raise InputError(f"the upload may hold one file, in the field {file_field!r}")
                before_file(fields)
                file_part = part
                upload.filename = part.filename or "upload"
                upload.spool = await run_in_threadpool(new_spool, ctx)
            events.files.clear()
            if events.data:
                spool = upload.spool
                assert spool is not None  # data of a file part comes after its headers
                blocks = b"".join(events.data)
                events.data.clear()
                await run_in_threadpool(spool.write, blocks)
        try:
            parser.finalize()
        except FormParserError:
            raise InputError("the upload is not a well-formed multipart form") from None
        upload.fields = events.fields
        if upload.spool is not None:
            await run_in_threadpool(upload.spool.finish)
    except ClientDisconnect:
        upload.close()
        raise InputError("the client went away before the upload was complete") from None
    except BaseException:
        upload.close()
        raise
    return upload
