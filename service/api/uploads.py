"""Reading a raw upload body with a size cap (files arrive as application/octet-stream):
small .tflite models into memory, .keras models and .npz datasets into a temporary file."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from dataclasses import dataclass
from typing import Annotated, Any, Protocol, TypeVar

import anyio
from fastapi import Depends, Request, Response
from starlette.requests import ClientDisconnect
from fastapi.concurrency import run_in_threadpool

from service.api.deps import SettingsDep
from service.api.errors import UploadAborted, api_error, problem_responses
from service.db.file_store import NotATfliteFile, check_tflite
from service.settings import Settings
from service.uploads.catalog import INCOMING_DIR
from service.uploads.errors import UploadRejected
from service.uploads.intake import ReceivedFile


class _HasId(Protocol):
    id: str


Stored = TypeVar("Stored", bound=_HasId)


def octet_stream_body(description: str) -> dict[str, Any]:
    """`openapi_extra` for an operation whose body is a file's raw bytes (FastAPI cannot
    infer it from a handler that reads request.stream())."""
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        }
    }


async def read_tflite_body(request: Request, max_bytes: int) -> bytes:
    """The request body, refused with 413 past `max_bytes` and 422 unless it is a .tflite."""
    data = b"".join([chunk async for chunk in _body_chunks(request, max_bytes)])
    if not data:
        raise api_error(422, "empty body: send the .tflite file's bytes as application/octet-stream")
    try:
        check_tflite(data)
    except NotATfliteFile as exc:
        raise api_error(422, str(exc)) from None
    return data


@asynccontextmanager
async def body_in_temp_file(request: Request, max_bytes: int, directory: Path, filename: str) -> AsyncIterator[ReceivedFile]:
    """Stream the request body into `directory`/<new temporary dir>/`filename`, hashing it
    on the way; refused with 413 past `max_bytes` and 422 when empty. The temporary
    directory, and whatever is still in it, is removed when the block ends."""
    _refuse_declared_length(request, max_bytes)
    directory.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="upload-", dir=directory))
    try:
        path = workdir / filename
        digest = hashlib.sha256()
        size = 0
        with open(path, "wb") as out:
            async for chunk in _body_chunks(request, max_bytes):
                size += len(chunk)
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            await run_in_threadpool(os.fsync, out.fileno())
        if size == 0:
            raise api_error(422, f"empty body: send the {Path(filename).suffix} file's bytes as application/octet-stream")
        yield ReceivedFile(path=path, sha256=digest.hexdigest(), size=size)
    finally:
        await run_in_threadpool(shutil.rmtree, workdir, True)


# Retry-After of a 429 for a full inspection queue: about one inspection here (5-12 s
# measured for models up to MobileNetV2, TensorFlow's start included).
INSPECTION_RETRY_AFTER_SECONDS = 10


# The OpenAPI entry of that answer, for the upload operations.
QUEUE_FULL_RESPONSE = problem_responses(
    429, c429="Too many uploads are being inspected or waiting for it; retry after Retry-After seconds"
)
QUEUE_FULL_RESPONSE[429]["headers"] = {
    "Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "integer", "minimum": 1}}
}


class InspectionQueue:
    """Model and dataset uploads in progress: at most `slots` are inspected at once (each
    inspection is a child process of a few GB), at most `waiting` more wait for a slot,
    and any further one is refused at once with 429 and Retry-After, before its body is
    read. Used from the event loop's thread only, so the count needs no lock."""

    def __init__(self, slots: int, waiting: int) -> None:
        self.limiter = anyio.CapacityLimiter(slots)
        self.capacity = slots + waiting
        self.admitted = 0

    @contextmanager
    def admission(self) -> Iterator[None]:
        if self.admitted >= self.capacity:
            raise api_error(
                429,
                f"{self.admitted} uploads are being inspected or waiting for it, as many as this server "
                f"queues (NETADAPT_MAX_CONCURRENT_INSPECTIONS + NETADAPT_MAX_QUEUED_INSPECTIONS); retry "
                f"after {INSPECTION_RETRY_AFTER_SECONDS} s",
                {"Retry-After": str(INSPECTION_RETRY_AFTER_SECONDS)},
            )
        self.admitted += 1
        try:
            yield
        finally:
            self.admitted -= 1


def inspection_queue(app: Any) -> InspectionQueue:
    """The app's one queue, made on first use from its settings (in the event loop's
    thread: only upload handlers call this)."""
    queue = getattr(app.state, "inspection_queue", None)
    if queue is None:
        settings = app.state.settings
        queue = app.state.inspection_queue = InspectionQueue(
            settings.max_concurrent_inspections, settings.max_queued_inspections
        )
    return queue


def uploads_admitted(app: Any) -> int:
    """How many uploads the queue holds now (for GET /v1/health; any thread)."""
    queue = getattr(app.state, "inspection_queue", None)
    return 0 if queue is None else queue.admitted


def upload_operation(
    record_out: type[Any], kind: str, body_description: str, errors: dict[int | str, dict[str, Any]]
) -> dict[str, Any]:
    """The route options of a POST that uploads a file as its body: 201 for a new `kind`,
    200 with the stored one for a file uploaded before, the upload's `errors`, 429."""
    return {
        "status_code": 201,
        "response_model": record_out,
        "responses": {
            200: {"model": record_out, "description": f"This file was uploaded before: the stored {kind}"},
            **errors,
            **QUEUE_FULL_RESPONSE,
        },
        "openapi_extra": octet_stream_body(body_description),
    }


@dataclass(frozen=True)
class UploadReceiver:
    """What an upload handler takes the body with (UploadDep)."""

    request: Request
    response: Response
    settings: Settings

    async def take(self, filename: str, accept: Callable[[ReceivedFile], tuple[Stored, bool]]) -> Stored:
        """Receive the body as data_dir/incoming/.../`filename`, hand it to `accept` in a
        worker thread; 201 with Location for a new record, 200 for one stored before. A
        refusal (UploadRejected) becomes its problem response; the temporary file goes
        either way. A full inspection queue answers 429 before the body is read."""
        request, settings = self.request, self.settings
        incoming = settings.data_dir / INCOMING_DIR
        queue = inspection_queue(request.app)
        with queue.admission():
            async with body_in_temp_file(request, settings.max_upload_bytes, incoming, filename) as upload:
                try:
                    # The limiter's waiters hold no thread of the pool that serves the server's
                    # other blocking handlers.
                    record, created = await anyio.to_thread.run_sync(accept, upload, limiter=queue.limiter)
                except UploadRejected as exc:
                    raise api_error(exc.status, str(exc)) from None
        self.response.status_code = 201 if created else 200
        self.response.headers["Location"] = f"{request.url.path}/{record.id}"
        return record


def _upload_receiver(request: Request, response: Response, settings: SettingsDep) -> UploadReceiver:
    return UploadReceiver(request, response, settings)


UploadDep = Annotated[UploadReceiver, Depends(_upload_receiver)]


async def _body_chunks(request: Request, max_bytes: int) -> AsyncIterator[bytes]:
    """The body's chunks: 413 past `max_bytes` (declared or sent); UploadAborted when the
    client goes away halfway (logged as one line, service.api.errors)."""
    _refuse_declared_length(request, max_bytes)
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_bytes:  # a missing or lying Content-Length
                raise _too_large(max_bytes)
            yield chunk
    except ClientDisconnect:
        declared = _declared_length(request)
        of = f" of {declared:,}" if declared is not None else ""
        raise UploadAborted(
            f"the client disconnected after sending {size:,}{of} bytes of the body; nothing was stored"
        ) from None


def _refuse_declared_length(request: Request, max_bytes: int) -> None:
    declared = _declared_length(request)
    if declared is not None and declared > max_bytes:
        raise _too_large(max_bytes)


def _declared_length(request: Request) -> int | None:
    declared = request.headers.get("content-length")
    # isascii: str.isdigit() also takes digits int() refuses ('²'). (h11 checks the header
    # before the app sees it; this is the app's own guard.)
    if declared is None or not (declared.isascii() and declared.isdigit()):
        return None
    return int(declared)


def _too_large(max_bytes: int):
    return api_error(413, f"upload larger than {max_bytes} bytes (the server's NETADAPT_MAX_UPLOAD_BYTES)")
