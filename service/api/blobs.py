"""Whole-model .tflite files by sha256: agents download them, the run side uploads them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse

from service.api.deps import AgentOrApiClient, ApiClient, BlobsDep, SettingsDep
from service.api.errors import api_error, problem_responses
from service.api.schemas import BlobOut
from service.api.uploads import octet_stream_body, read_tflite_body
from service.db.file_store import SHA256_PATTERN, sha256_hex

router = APIRouter(prefix="/blobs", tags=["blobs"])

Sha256 = Annotated[str, Path(pattern=SHA256_PATTERN, description="lowercase sha256 hex of the file")]


@router.get(
    "/{sha256}",
    dependencies=[AgentOrApiClient],
    response_class=FileResponse,
    responses={200: {"content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}},
)
def get_blob(sha256: Sha256, blobs: BlobsDep) -> FileResponse:
    path = blobs.path(sha256)
    if not path.is_file():
        raise api_error(404, f"no stored model {sha256}; upload it first (PUT /v1/blobs/{sha256})")
    return FileResponse(path, media_type="application/octet-stream", filename=f"{sha256}.tflite")


_TFLITE_BODY = octet_stream_body("A .tflite model (TFLite flatbuffer, identifier 'TFL3')")
_UPLOAD_ERRORS = problem_responses(413, 422, c413="Larger than NETADAPT_MAX_UPLOAD_BYTES")


@router.put(
    "/{sha256}", dependencies=[ApiClient], response_model=BlobOut, openapi_extra=_TFLITE_BODY,
    responses=_UPLOAD_ERRORS,
)
async def put_blob(sha256: Sha256, request: Request, blobs: BlobsDep, settings: SettingsDep) -> BlobOut:
    data = await read_tflite_body(request, settings.max_upload_bytes)
    actual = sha256_hex(data)
    if actual != sha256:
        raise api_error(422, f"the body's sha256 is {actual}, not the {sha256} in the URL")
    await run_in_threadpool(blobs.put, data)
    return BlobOut(sha256=sha256, size=len(data))


@router.post(
    "", dependencies=[ApiClient], response_model=BlobOut, openapi_extra=_TFLITE_BODY, responses=_UPLOAD_ERRORS
)
async def post_blob(request: Request, blobs: BlobsDep, settings: SettingsDep) -> BlobOut:
    data = await read_tflite_body(request, settings.max_upload_bytes)
    sha256 = await run_in_threadpool(blobs.put, data)
    return BlobOut(sha256=sha256, size=len(data))
