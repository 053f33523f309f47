"""The run/estimator side: look costs up (missing ones become jobs), measure whole models."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool

from latency_tables.estimator import profile_calibration, profile_scale
from latency_tables.signature import LayerSignature
from latency_tables.store import DeviceProfile, keep_layers_of_tflite, lookup_entries
from service.api.deps import ApiClient, BlobsDep, DatabaseDep, ProfileDep, QueueSignalDep, SessionDep, SettingsDep
from service.api.errors import api_error, problem_responses
from service.api.schemas import (
    EntryValues,
    JobResultOut,
    JobStatusOut,
    LookupIn,
    LookupOut,
    Metric,
    ModelJobOut,
)
from service.api.uploads import octet_stream_body, read_tflite_body
from service.db.tables import Job
from service.queue import enqueue_layer_jobs, enqueue_model_job, get_job
from service.row_fields import same_named

router = APIRouter(tags=["costs"], dependencies=[ApiClient])


@router.post("/profiles/{profile_id}/lookup", response_model=LookupOut)
def lookup(
    body: LookupIn, profile: ProfileDep, session: SessionDep, settings: SettingsDep, signal: QueueSignalDep
) -> LookupOut:
    _check_metric(profile, body.metric)
    signatures = [_parse_signature(i, raw) for i, raw in enumerate(body.signatures)]
    # Enqueue first, then read: entries only ever get added, so every digest missing
    # from the read below was missing at enqueue time too and has a job.
    jobs = enqueue_layer_jobs(session, profile.id, body.metric, signatures, max_attempts=settings.max_attempts)
    if jobs:
        signal.notify()
    digests = list(dict.fromkeys(s.digest for s in signatures))
    entries = lookup_entries(session, profile.id, body.metric, digests)
    scale = profile_scale(session, profile.id, body.metric)
    fitted = profile_calibration(session, profile.id, body.metric)
    session.commit()
    missing = [d for d in digests if d not in entries]
    return LookupOut(
        entries={d: EntryValues(median=e.median, spread=e.spread, n=e.n) for d, e in entries.items()},
        missing=missing,
        jobs={d: jobs[d] for d in missing if d in jobs},
        scale=scale,
        calibration=fitted.to_dict(),
    )


@router.post(
    "/profiles/{profile_id}/model-jobs",
    response_model=ModelJobOut,
    summary="Measure a whole .tflite model on the profile's device",
    openapi_extra=octet_stream_body("The .tflite model to measure (TFLite flatbuffer, identifier 'TFL3')"),
    responses=problem_responses(
        413, 422, c413="Larger than NETADAPT_MAX_UPLOAD_BYTES", c422="Not a .tflite file, or a query value is invalid"
    ),
)
async def submit_model(
    request: Request,
    profile: ProfileDep,
    database: DatabaseDep,
    blobs: BlobsDep,
    settings: SettingsDep,
    signal: QueueSignalDep,
    metric: Metric,
    raw_sum: Annotated[float | None, Query(ge=0, allow_inf_nan=False)] = None,
    estimated: Annotated[float | None, Query(ge=0, allow_inf_nan=False)] = None,
    dtype: Annotated[str, Query(pattern="^(float32|int8)$")] = "float32",
) -> ModelJobOut:
    """Body: the .tflite bytes (application/octet-stream); the rest as query parameters."""
    _check_metric(profile, metric)
    data = await read_tflite_body(request, settings.max_upload_bytes)
    sha256 = await run_in_threadpool(blobs.put, data)

    def enqueue() -> Job:
        with database.session() as session:
            keep_layers_of_tflite(session, sha256, data)  # what the table's calibration fits on
            return enqueue_model_job(
                session,
                profile.id,
                metric,
                sha256,
                raw_sum=raw_sum,
                estimated=estimated,
                max_attempts=settings.max_attempts,
                dtype=dtype,
            )

    job = await run_in_threadpool(enqueue)
    signal.notify()
    return ModelJobOut(job_id=job.id, model_sha256=sha256, status=job.status)


@router.get("/jobs/{job_id}", response_model=JobStatusOut, responses=problem_responses(404, c404="No job with this id"))
def job_status(job_id: str, session: SessionDep) -> JobStatusOut:
    job = get_job(session, job_id)
    result = None
    if job.result_agent_id is not None:  # the row keeps its result in result_<field> columns
        result = JobResultOut(**{name: getattr(job, f"result_{name}") for name in JobResultOut.model_fields})
    return JobStatusOut(**same_named(job, JobStatusOut.model_fields, result=result))


def _check_metric(profile: DeviceProfile, metric: str) -> None:
    if metric != profile.metric:
        raise api_error(
            422,
            f"profile {profile.id} measures {profile.metric!r}, not {metric!r}; "
            "pick a profile whose agents measure that metric",
        )


def _parse_signature(index: int, raw: dict[str, Any]) -> LayerSignature:
    try:
        return LayerSignature.from_dict(raw)
    except Exception as exc:  # any failure here is the caller's malformed signature
        raise api_error(422, f"signatures[{index}]: {exc}") from None
