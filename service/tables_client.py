"""A small client for the run side: look costs up, measure whole models, wait for jobs."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any, TypedDict

import httpx

from latency_tables.signature import LayerSignature
from service.bearer_client import BearerClient
from service.netadapt.errors import UserError

FINISHED_STATUSES = ("done", "failed")


class TablesClientError(UserError, RuntimeError):
    """The server refused a request; the message is the server's `detail`."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(f"the server answered {status_code}: {detail}")
        self.status_code = status_code
        self.detail = detail


class ServerUnreachable(UserError, ConnectionError):
    """No answer from the server (refused, timed out, cut off)."""

    def __init__(self, error: httpx.TransportError) -> None:
        try:
            where = f" at {error.request.url}"
        except RuntimeError:  # httpx raises when the error has no request attached
            where = ""
        super().__init__(f"cannot reach the server{where} ({error}); is `netadapt serve` running there?")


class EntryValues(TypedDict):
    median: float
    spread: float
    n: int


class LookupReply(TypedDict):
    """The server's lookup answer (plain JSON: the engine's estimator consumes dicts)."""

    entries: dict[str, EntryValues]  # digest -> values
    missing: list[str]  # digests still to be measured
    jobs: dict[str, str]  # digest -> job id measuring it
    scale: float  # calibration factor for the profile+metric


# GET /v1/jobs/{id}: service/api/schemas.py JobStatusOut as JSON (`status`: pending | leased |
# done | failed; `result`: a JobResultOut once an agent reported).
JobStatus = dict[str, Any]


class TablesClient(BearerClient):
    default_timeout = 30.0

    def lookup(
        self, profile_id: str, metric: str, signatures: Iterable[LayerSignature | dict[str, Any]]
    ) -> LookupReply:
        """Entries the table has; the rest become jobs (their ids are in the reply).

        An empty `signatures` list just reads the profile's calibration `scale`.
        """
        body = {
            "metric": metric,
            "signatures": [s.to_dict() if isinstance(s, LayerSignature) else s for s in signatures],
        }
        return self._call("POST", f"/profiles/{profile_id}/lookup", json=body)  # type: ignore[return-value]

    def submit_model(
        self,
        profile_id: str,
        metric: str,
        tflite_bytes: bytes,
        raw_sum: float | None,
        estimated: float | None,
        *,
        dtype: str = "float32",
    ) -> str:
        """Queue a whole-model measurement; the job id. The estimates are kept with the result."""
        params: dict[str, Any] = {"metric": metric, "dtype": dtype}
        if raw_sum is not None:
            params["raw_sum"] = raw_sum
        if estimated is not None:
            params["estimated"] = estimated
        data = self._call(
            "POST",
            f"/profiles/{profile_id}/model-jobs",
            params=params,
            content=tflite_bytes,
            headers={"Content-Type": "application/octet-stream"},
        )
        return str(data["job_id"])

    def profile(self, profile_id: str) -> dict[str, Any]:
        """The device profile with its table counts, calibration scale and agents."""
        return self._call("GET", f"/profiles/{profile_id}")

    def job(self, job_id: str) -> JobStatus:
        return self._call("GET", f"/jobs/{job_id}")

    def wait_for_jobs(
        self, job_ids: Sequence[str], timeout: float, *, poll_seconds: float = 0.5
    ) -> dict[str, JobStatus]:
        """Poll until every job is done or failed; their statuses.

        Raises TimeoutError naming the unfinished jobs. Failed jobs are returned, not
        raised: the caller decides whether a layer that cannot be measured is fatal.
        """
        deadline = time.monotonic() + timeout
        pending = list(dict.fromkeys(job_ids))
        finished: dict[str, JobStatus] = {}
        while True:
            for job_id in list(pending):
                status = self.job(job_id)
                if status["status"] in FINISHED_STATUSES:
                    finished[job_id] = status
                    pending.remove(job_id)
            if not pending:
                return finished
            if time.monotonic() >= deadline:
                shown = ", ".join(pending[:5]) + (" ..." if len(pending) > 5 else "")
                raise TimeoutError(
                    f"{len(pending)} of {len(finished) + len(pending)} jobs unfinished after {timeout:g} s "
                    f"({shown}); is an agent for this profile running?"
                )
            time.sleep(min(poll_seconds, max(0.0, deadline - time.monotonic())))

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ServerUnreachable(exc) from exc
        return raise_for_problem(response).json()


def raise_for_problem(response: httpx.Response) -> httpx.Response:
    """The response, unless it is an error: then TablesClientError with the problem's detail."""
    if response.is_error:
        try:
            detail = str(response.json().get("detail", response.text))
        except ValueError:
            detail = response.text
        raise TablesClientError(response.status_code, detail)
    return response
