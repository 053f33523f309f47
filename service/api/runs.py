"""Pruning runs: create, list, follow (JSON event log and Server-Sent Events), cancel,
resume, delete, download artifacts. Execution belongs to the supervisor (service.runs)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, StreamingResponse

from latency_tables.store import get_profile
from service.api.deps import ApiClient, DatabaseDep, RunEventsDep, SessionDep, SettingsDep
from service.api.errors import api_error, problem_responses
from service.api.params import MAX_STORED_INT
from service.api.run_schemas import (
    BUDGET_GUARANTEE,
    ArtifactOut,
    IterationOut,
    ProposalOut,
    RunEventOut,
    RunOut,
    RunStatus,
)
from service.db.runs import TERMINAL_STATUSES, Run
from service.netadapt import build_report
from service.queue.signal import QueueSignal
from service.runs import repository
from service.runs.artifacts import find_artifact, list_artifacts, run_dir
from service.runs.history import iteration_rows, proposal_rows
from service.runs.spec import MEASURED_METRICS, RunCreate
from service.runs.supervisor import worker_log_path
from service.settings import Settings

router = APIRouter(prefix="/runs", tags=["runs"], dependencies=[ApiClient], responses=problem_responses(401))

SSE_POLL_SECONDS = 0.25
SSE_KEEPALIVE_SECONDS = 15.0
SSE_RETRY_MILLISECONDS = 2000
_RUN_404 = problem_responses(404, c404="No run with this id")

EventCursor = Annotated[
    int,
    Query(
        ge=0,
        le=MAX_STORED_INT,
        description=f"return events with seq > after (0 = from the start; at most {MAX_STORED_INT}, "
        "the largest seq a run can have)",
    ),
]
# What the stream sends as `id:`, and so what EventSource sends back as Last-Event-ID.
_EVENT_ID = re.compile(r"[0-9]{1,10}")


def _existing(session: Any, run_id: str) -> Run:
    run = repository.get_run(session, run_id)
    if run is None:
        raise api_error(404, f"no run {run_id!r}; GET /v1/runs lists the runs")
    return run


def _check_inputs(session: Any, spec: RunCreate, settings: Settings) -> None:
    """Everything a run needs must exist and fit before it is queued."""
    from service.uploads import catalog
    from service.uploads.limits import ModelLimits, model_limit_refusal, run_memory_refusal

    model = catalog.find_model(session, spec.model_id)
    if model is None:
        raise api_error(422, f"model_id: no model {spec.model_id!r}; upload the .keras file with POST /v1/models first")
    analysis = catalog.model_analysis(model)
    if not analysis.get("supported", False):
        names = ", ".join(f"{u['layer']} ({u['class_name']})" for u in analysis.get("unsupported", [])[:5])
        raise api_error(422, f"model_id: model {spec.model_id} has layers that cannot be pruned: {names}")
    if not any(group.get("prunable") for group in analysis.get("groups", [])):
        raise api_error(422, f"model_id: model {spec.model_id} has no prunable layers")
    if spec.method == "fit":  # no data, no training: the model's own limits and the device
        too_large = model_limit_refusal(analysis, ModelLimits.of(settings))
        if too_large is not None:
            raise api_error(422, f"model_id: {too_large}")
        _check_device(session, spec)
        return
    dataset = catalog.find_dataset(session, spec.dataset_id)
    if dataset is None:
        raise api_error(
            422, f"dataset_id: no dataset {spec.dataset_id!r}; use 'digits' or upload an .npz with POST /v1/datasets"
        )
    too_large = model_limit_refusal(analysis, ModelLimits.of(settings)) or run_memory_refusal(
        analysis, dataset, spec.training.batch_size, settings.run_memory_bytes
    )
    if too_large is not None:
        raise api_error(422, f"model_id: {too_large}")
    classes = analysis.get("num_classes")
    if classes is not None and dataset.num_classes is not None and dataset.num_classes > classes:
        raise api_error(
            422,
            f"dataset_id: dataset {spec.dataset_id} has {dataset.num_classes} classes but the model's output "
            f"has {classes}; use a dataset with at most {classes} classes",
        )
    _check_device(session, spec)


def _check_device(session: Any, spec: RunCreate) -> None:
    if spec.device is not None:
        profile = get_profile(session, spec.device)
        if profile is None:
            raise api_error(422, f"device: no device profile {spec.device!r}; GET /v1/profiles lists them")
        if spec.metric in MEASURED_METRICS and profile.metric != spec.metric:
            raise api_error(
                422,
                f"device: profile {spec.device} measures {profile.metric}, not {spec.metric}; pick a profile "
                f"whose agent measures {spec.metric}",
            )


IDEMPOTENCY = (
    "Idempotency-Key (optional, up to 255 characters): one key space for the whole server, kept as long "
    "as the run it created exists (DELETE frees it). The same key with the same request (compared after "
    "defaults are filled in) answers 200 with that run, whatever its status now; with a different "
    "request, 409. Without a key every POST creates a run."
)
PREPROCESSING = (
    "How the dataset reaches the model: images are scaled to float32 in [0, 1] (uint8 / 255, uint16 / "
    "65535; float images must already be in [0, 1]; the built-in digits are 8x8 grey values / 16), "
    "resized to the model's input height x width (bilinear, antialiased; segmentation masks nearest-"
    "neighbour) and converted to its channels (1 -> 3 repeats the grey value, 3 -> 1 averages), the whole "
    "dataset at once, in memory. Nothing else: a model that expects other ranges (0..255, [-1, 1], mean/std) "
    "must contain its own Rescaling or Normalization layer. The holdout split that ranks proposals is "
    "carved from the training images (training.holdout); the test split is used only for the final "
    "test_accuracy."
)
LIMITS = (
    "Before the run is queued the model is checked against the server's limits again "
    "(NETADAPT_MAX_MODEL_INPUT_ELEMENTS, NETADAPT_MAX_MODEL_PARAMS, NETADAPT_MAX_ACTIVATION_BYTES_PER_SAMPLE), "
    "and the memory it needs at the least (the dataset resized to the model's input as float32, plus one "
    "batch of activations) against NETADAPT_RUN_MEMORY_BYTES: 422 naming the limit."
)


@router.post(
    "",
    status_code=201,
    response_model=RunOut,
    summary="Start a NetAdapt run",
    description="Queues a run; follow it with GET .../events/stream. " + BUDGET_GUARANTEE + "\n\n"
    + PREPROCESSING + "\n\n" + IDEMPOTENCY + "\n\n" + LIMITS,
    responses={
        200: {"model": RunOut, "description": "A run created earlier with the same Idempotency-Key and request"},
        **problem_responses(
            409,
            422,
            c409="Idempotency-Key reused with a different request",
            c422="A field is invalid, the model or dataset does not exist or fit, or the run exceeds a limit",
        ),
    },
)
def create_run(
    spec: RunCreate,
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    idempotency_key: Annotated[
        str | None,
        Header(
            max_length=255,
            description="Retries with the same key and request return the same run instead of a new one. "
            + IDEMPOTENCY,
        ),
    ] = None,
) -> RunOut:
    _check_inputs(session, spec, settings)
    try:
        run, created = repository.create_run(session, spec, idempotency_key)
    except repository.IdempotencyConflict as exc:
        raise api_error(409, str(exc)) from None
    if created:
        request.app.state.run_supervisor.wake()
    else:
        response.status_code = 200
    response.headers["Location"] = f"{request.url.path}/{run.id}"
    return RunOut.of(run)


@router.get("", response_model=list[RunOut], responses=problem_responses(422))
def list_runs(
    session: SessionDep,
    status: Annotated[list[RunStatus] | None, Query(description="only runs in any of these states")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> list[RunOut]:
    return [RunOut.of(run) for run in repository.list_runs(session, status, limit, offset)]


@router.get("/{run_id}", response_model=RunOut, responses=_RUN_404)
def get_run(run_id: str, session: SessionDep) -> RunOut:
    return RunOut.of(_existing(session, run_id))


@router.get("/{run_id}/iterations", response_model=list[IterationOut], responses=_RUN_404)
def list_iterations(run_id: str, session: SessionDep) -> list[IterationOut]:
    return [IterationOut(**row) for row in iteration_rows(_existing(session, run_id).state)]


@router.get("/{run_id}/proposals", response_model=list[ProposalOut], responses=_RUN_404)
def list_proposals(
    run_id: str,
    session: SessionDep,
    iteration: Annotated[
        int | None, Query(ge=0, le=MAX_STORED_INT, description="only this iteration's proposals")
    ] = None,
) -> list[ProposalOut]:
    return [ProposalOut(**row) for row in proposal_rows(_existing(session, run_id).state, iteration)]


@router.get("/{run_id}/events", response_model=list[RunEventOut], responses=_RUN_404)
def list_events(
    run_id: str,
    session: SessionDep,
    after: EventCursor = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> list[RunEventOut]:
    _existing(session, run_id)
    return [_event_out(e) for e in repository.events_after(session, run_id, after, limit)]


def _event_out(event: Any) -> RunEventOut:
    return RunEventOut(seq=event.seq, at=event.at, type=event.type, data=event.data)


_SSE_FRAMING = (
    "Server-Sent Events (text/event-stream, UTF-8), the same events as GET .../events. The "
    f"stream opens with `retry: {SSE_RETRY_MILLISECONDS}` and a blank line (reconnect after "
    f"{SSE_RETRY_MILLISECONDS / 1000:g} s). Then one message per event, in seq order:\n\n"
    "    id: <seq>\n    event: <type>\n    data: <the event as one line of RunEventOut JSON>\n    <blank line>\n\n"
    f"While nothing happens the server sends a comment line `: keep-alive` every {SSE_KEEPALIVE_SECONDS:g} s "
    "(ignore lines starting with `:`). The server closes the stream once the run's status is terminal ("
    + ", ".join(TERMINAL_STATUSES)
    + ") and every event has been sent: the last message is then a `status` event whose data.status is "
    "that terminal status. A run that is resumed later appends to the same log; open a new stream "
    "with Last-Event-ID (or `after`) set to the last seq you saw. The schema of each `data` line is "
    "the `x-sse-data` schema of this response (RunEventOut)."
)


def parse_last_event_id(value: str | None) -> int | None:
    """The seq in a Last-Event-ID header (None when absent or empty); 422 unless it is one
    of the ids the stream sends: ASCII decimal digits, at most MAX_STORED_INT."""
    if not value:
        return None
    if _EVENT_ID.fullmatch(value) is None or int(value) > MAX_STORED_INT:
        shown = value if len(value) <= 40 else value[:40] + "..."
        raise api_error(
            422,
            f"Last-Event-ID (header): {shown!r} is not an event seq; send the `id:` of the last event "
            f"you received (decimal digits, 0..{MAX_STORED_INT}), or leave the header out",
        )
    return int(value)


@router.get(
    "/{run_id}/events/stream",
    response_class=StreamingResponse,
    summary="Follow a run's events as Server-Sent Events",
    description=_SSE_FRAMING,
    responses={
        200: {
            "description": "The event stream; framing in the operation's description",
            "content": {
                "text/event-stream": {
                    "schema": {"type": "string", "description": "SSE messages as described above"},
                    "x-sse-data": {"$ref": "#/components/schemas/RunEventOut"},
                }
            },
        },
        **_RUN_404,
        **problem_responses(422, c422="`after` out of range, or a Last-Event-ID that is not an event seq"),
    },
)
def stream_events(
    run_id: str,
    session: SessionDep,
    database: DatabaseDep,
    run_events: RunEventsDep,
    after: EventCursor = 0,
    last_event_id: Annotated[
        str | None,
        Header(
            description=f"sent by EventSource on reconnect: the last `id:` received (decimal, 0..{MAX_STORED_INT}); "
            "overrides `after`",
            examples=["42"],
        ),
    ] = None,
) -> StreamingResponse:
    start = parse_last_event_id(last_event_id)
    _existing(session, run_id)
    session.commit()
    return StreamingResponse(
        _event_stream(database, run_events, run_id, after if start is None else start),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _event_stream(database: Any, run_events: QueueSignal, run_id: str, after: int) -> AsyncIterator[str]:
    def poll(last: int) -> tuple[list[RunEventOut], bool]:
        with database.session() as session:
            run = repository.get_run(session, run_id)
            events = [_event_out(e) for e in repository.events_after(session, run_id, last)]
            return events, run is None or run.status in TERMINAL_STATUSES

    idle_since = time.monotonic()
    yield f"retry: {SSE_RETRY_MILLISECONDS}\n\n"
    while not run_events.closed:  # closed: the server is shutting down; clients reconnect
        wake = run_events.waiter()  # before reading, so no event slips between
        events, ended = await run_in_threadpool(poll, after)
        for event in events:
            after = event.seq
            yield f"id: {event.seq}\nevent: {event.type}\ndata: {event.model_dump_json()}\n\n"
        if ended and not events:
            return
        if events:
            idle_since = time.monotonic()
            continue
        # Woken when a run appends events (on PostgreSQL from any process), else polls.
        await run_events.wait(wake, SSE_POLL_SECONDS)
        if time.monotonic() - idle_since >= SSE_KEEPALIVE_SECONDS:
            idle_since = time.monotonic()
            yield ": keep-alive\n\n"


def _state_change_route(action: str, refused_when: str) -> Any:
    """POST /v1/runs/{run_id}/`action`: 202 with the run, 409 `refused_when`."""
    return router.post(
        f"/{{run_id}}/{action}",
        status_code=202,
        response_model=RunOut,
        responses={**_RUN_404, **problem_responses(409, c409=refused_when)},
    )


@_state_change_route("cancel", "The run has already ended")
def cancel_run(run_id: str, request: Request, session: SessionDep) -> RunOut:
    return _change_state(repository.request_cancel, run_id, request, session)


@_state_change_route("resume", "Only cancelled or failed runs can be resumed")
def resume_run(run_id: str, request: Request, session: SessionDep) -> RunOut:
    return _change_state(repository.request_resume, run_id, request, session)


def _change_state(change: Any, run_id: str, request: Request, session: Any) -> RunOut:
    """Cancel or resume: 404 for unknown runs, 409 when the state does not allow it; the
    supervisor looks at once."""
    _existing(session, run_id)
    try:
        run = change(session, run_id)
    except repository.RunStateError as exc:
        raise api_error(409, str(exc)) from None
    request.app.state.run_supervisor.wake()
    return RunOut.of(run)


@router.delete(
    "/{run_id}",
    status_code=204,
    response_class=Response,
    responses={**_RUN_404, **problem_responses(409, c409="The run is still active; cancel it first")},
)
def delete_run(run_id: str, session: SessionDep, settings: SettingsDep) -> Response:
    import shutil

    _existing(session, run_id)
    try:
        repository.delete_run(session, run_id)
    except repository.RunStateError as exc:
        raise api_error(409, str(exc)) from None
    shutil.rmtree(run_dir(settings.runs_dir, run_id), ignore_errors=True)
    worker_log_path(settings, run_id).unlink(missing_ok=True)
    return Response(status_code=204)


@router.get("/{run_id}/report", responses={**_RUN_404, **problem_responses(409, c409="No report yet")})
def get_report(run_id: str, session: SessionDep) -> dict[str, Any]:
    """The engine's full history and summary (what `netadapt prune` writes to history.json)."""
    run = _existing(session, run_id)
    state = run.state
    if state is None:
        raise api_error(409, f"run {run_id} is {run.status} and has no history yet; follow its events")
    report = build_report(state)
    report["run"] = json.loads(RunOut.of(run).model_dump_json())
    return report


@router.get("/{run_id}/artifacts", response_model=list[ArtifactOut], responses=_RUN_404)
def get_artifacts(run_id: str, request: Request, session: SessionDep, settings: SettingsDep) -> list[ArtifactOut]:
    _existing(session, run_id)
    base = str(request.url.path)
    return [
        ArtifactOut(
            name=a.name, kind=a.kind, format=a.format, iteration=a.iteration, size_bytes=a.size_bytes,
            url=f"{base}/{a.name}",
        )
        for a in list_artifacts(run_dir(settings.runs_dir, run_id))
    ]


@router.get(
    "/{run_id}/artifacts/{name}",
    response_class=FileResponse,
    responses={
        200: {
            "description": "The file",
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        },
        **problem_responses(404, c404="No such run or artifact (yet)"),
    },
)
def download_artifact(run_id: str, name: str, session: SessionDep, settings: SettingsDep) -> FileResponse:
    _existing(session, run_id)
    artifact = find_artifact(run_dir(settings.runs_dir, run_id), name)
    if artifact is None:
        raise api_error(
            404, f"run {run_id} has no artifact {name!r} (yet); GET /v1/runs/{run_id}/artifacts lists what it has"
        )
    media = "application/json" if artifact.format == "json" else "application/octet-stream"
    return FileResponse(artifact.path, media_type=media, filename=artifact.name)
