"""A small Python client for pipelines: upload a model, start a run, follow it, download.

    from service.client import NetAdaptClient
    with NetAdaptClient("http://127.0.0.1:8000", token) as api:
        model = api.upload_model("model.keras")
        run = api.create_run({"model_id": model["id"], "metric": "macs", "budget": 0.5})
        run = api.wait(run["id"], on_event=print)
        api.download(run["id"], "final.tflite", "pruned.tflite")

Errors are `ApiError` with the server's problem `detail` (what to change).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from latency_tables.atomic_files import atomic_target
from service.bearer_client import BearerClient
from service.tables_client import TablesClientError as ApiError
from service.tables_client import raise_for_problem

__all__ = ["ApiError", "NetAdaptClient", "TERMINAL_STATUSES"]

TERMINAL_STATUSES = ("finished", "failed", "cancelled")


class NetAdaptClient(BearerClient):
    default_timeout = 60.0

    # -- models, datasets, devices ----------------------------------------------------------

    def upload_model(self, path: str | Path) -> dict[str, Any]:
        return self._upload("/models", path, {"filename": Path(path).name})

    def model(self, model_id: str) -> dict[str, Any]:
        return self._json("GET", f"/models/{model_id}")

    def upload_dataset(self, path: str | Path, name: str | None = None) -> dict[str, Any]:
        return self._upload("/datasets", path, {"name": name or Path(path).stem})

    def datasets(self) -> list[dict[str, Any]]:
        return self._json("GET", "/datasets")

    def profiles(self) -> list[dict[str, Any]]:
        return self._json("GET", "/profiles")

    def profile(self, profile_id: str) -> dict[str, Any]:
        """A profile with its agents (`online`, `last_heartbeat_at`) and queue depth."""
        return self._json("GET", f"/profiles/{profile_id}")

    def _upload(self, path: str, file: str | Path, params: dict[str, str]) -> dict[str, Any]:
        with open(file, "rb") as handle:
            return self._json(
                "POST", path, params=params, content=handle, headers={"Content-Type": "application/octet-stream"}
            )

    # -- runs -------------------------------------------------------------------------------

    def create_run(self, spec: dict[str, Any], idempotency_key: str | None = None) -> dict[str, Any]:
        """Start a run. The key (a fresh one by default) makes this call safe to retry."""
        key = idempotency_key or uuid.uuid4().hex
        for attempt in range(3):
            try:
                return self._json("POST", "/runs", json=spec, headers={"Idempotency-Key": key})
            except httpx.TransportError:
                if attempt == 2:
                    raise
                time.sleep(0.5 * (attempt + 1))
        raise AssertionError("unreachable")

    def runs(self, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": limit}
        if status:
            params["status"] = status
        return self._json("GET", "/runs", params=params)

    def run(self, run_id: str) -> dict[str, Any]:
        return self._json("GET", f"/runs/{run_id}")

    def iterations(self, run_id: str) -> list[dict[str, Any]]:
        return self._json("GET", f"/runs/{run_id}/iterations")

    def proposals(self, run_id: str, iteration: int | None = None) -> list[dict[str, Any]]:
        params = {} if iteration is None else {"iteration": iteration}
        return self._json("GET", f"/runs/{run_id}/proposals", params=params)

    def events(self, run_id: str, after: int = 0) -> list[dict[str, Any]]:
        return self._json("GET", f"/runs/{run_id}/events", params={"after": after})

    def cancel(self, run_id: str) -> dict[str, Any]:
        return self._json("POST", f"/runs/{run_id}/cancel")

    def resume(self, run_id: str) -> dict[str, Any]:
        return self._json("POST", f"/runs/{run_id}/resume")

    def delete(self, run_id: str) -> None:
        raise_for_problem(self._http.delete(f"/runs/{run_id}"))

    def report(self, run_id: str) -> dict[str, Any]:
        return self._json("GET", f"/runs/{run_id}/report")

    def artifacts(self, run_id: str) -> list[dict[str, Any]]:
        return self._json("GET", f"/runs/{run_id}/artifacts")

    def download(self, run_id: str, name: str, destination: str | Path) -> Path:
        """Stream one artifact to `destination` (written atomically)."""
        destination = Path(destination)
        with self._http.stream("GET", f"/runs/{run_id}/artifacts/{name}") as response:
            if response.is_error:
                response.read()
                raise_for_problem(response)
            with atomic_target(destination) as temp:
                with open(temp, "wb") as handle:
                    for chunk in response.iter_bytes():
                        handle.write(chunk)
        return destination

    def stream_events(self, run_id: str, after: int = 0) -> Iterator[dict[str, Any]]:
        """Server-Sent Events of the run, from `after` until the run ends. Reconnects
        (with Last-Event-ID) when the connection drops."""
        last = after
        failures = 0
        while True:
            try:
                with self._http.stream(
                    "GET",
                    f"/runs/{run_id}/events/stream",
                    params={"after": last},
                    timeout=httpx.Timeout(self._http.timeout.connect, read=None),
                ) as response:
                    if response.is_error:
                        response.read()
                        raise_for_problem(response)
                    for event in _parse_sse(response.iter_lines()):
                        failures = 0
                        last = event["seq"]
                        yield event
                return  # the server ends the stream once the run has ended
            except (httpx.TransportError, httpx.RemoteProtocolError):
                failures += 1
                if failures > 30:
                    raise
                time.sleep(min(5.0, 0.5 * failures))

    def wait(
        self, run_id: str, on_event: Callable[[dict[str, Any]], None] | None = None
    ) -> dict[str, Any]:
        """Follow the run's events until it ends; return the final run record."""
        for event in self.stream_events(run_id):
            if on_event is not None:
                on_event(event)
        return self.run(run_id)

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return raise_for_problem(self._http.request(method, path, **kwargs)).json()


def _parse_sse(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """RunEventOut dicts from an SSE line stream (comments and retry lines skipped)."""
    data: list[str] = []
    for line in lines:
        if line == "":
            if data:
                yield json.loads("\n".join(data))
                data = []
        elif line.startswith("data:"):
            data.append(line[5:].lstrip())
    if data:
        yield json.loads("\n".join(data))
