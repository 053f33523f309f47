"""Reading a raw upload body with a size cap (models arrive as application/octet-stream)."""

from __future__ import annotations

from fastapi import Request

from service.api.errors import api_error
from service.db.blobs import NotATfliteFile, check_tflite


async def read_tflite_body(request: Request, max_bytes: int) -> bytes:
    """The request body, refused with 413 past `max_bytes` and 422 unless it is a .tflite."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:  # a missing or lying Content-Length
            raise _too_large(max_bytes)
        chunks.append(chunk)
    data = b"".join(chunks)
    if not data:
        raise api_error(422, "empty body: send the .tflite file's bytes as application/octet-stream")
    try:
        check_tflite(data)
    except NotATfliteFile as exc:
        raise api_error(422, str(exc)) from None
    return data


def _too_large(max_bytes: int):
    return api_error(413, f"upload larger than {max_bytes} bytes (the server's NETADAPT_MAX_UPLOAD_BYTES)")
