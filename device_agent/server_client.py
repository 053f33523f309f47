"""The agent's side of latency_tables/protocol.py over HTTP, resilient to a flaky server.

- Transient failures (connection refused or reset, timeouts, 5xx, 408, 429) are retried
  with exponential backoff and full jitter, capped, for as long as the agent runs:
  a server restart must not kill a board agent that nobody is watching.
- 401 means our secret is unknown (the server lost its database, or the agent was
  removed): register again with the token, then repeat the request.
- Other 4xx are the server saying no; they are raised as ServerRejected, not retried.
- Every wait watches `stop`: once the agent is stopping, a failed request is not
  retried (AgentStopped instead), so SIGTERM is never stuck behind a backoff sleep,
  yet a result being reported when the signal came still gets its one attempt.

The per-agent secret lives in memory only. Each thread gets its own httpx.Client: the
heartbeat thread talks to the server while the main thread is in a long poll.
"""

from __future__ import annotations

import hashlib
import logging
import random
import re
import threading
from dataclasses import dataclass
from typing import Any, Callable

import httpx

from latency_tables import protocol
from latency_tables.protocol import (
    DeviceDescription,
    Job,
    JobResult,
    Registration,
    RegistrationReply,
    ReportReply,
    ResultsReport,
)

log = logging.getLogger(__name__)

SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
TRANSIENT_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
REQUEST_TIMEOUT_SECONDS = 30.0
BLOB_TIMEOUT_SECONDS = 300.0


class AgentStopped(BaseException):
    """The agent is shutting down (SIGTERM/SIGINT): stop what you are doing.

    A BaseException, like KeyboardInterrupt, because it is raised from the signal
    handler wherever the main thread is, and the backends' `except Exception` (one bad
    model must not fail a batch) must not swallow it.
    """


class ServerRejected(Exception):
    """A non-retryable answer (4xx other than 401/408/429)."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(f"server answered {status_code}: {detail}")
        self.status_code = status_code
        self.detail = detail


class RegistrationRefused(ServerRejected):
    """The server does not accept our token: nothing to retry, the operator must act."""


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter: delay_k = uniform(0, min(cap, first * 2^k))."""

    first_seconds: float = 0.5
    cap_seconds: float = 30.0

    def delay(self, attempt: int) -> float:
        return random.uniform(0, min(self.cap_seconds, self.first_seconds * (2 ** min(attempt, 30))))


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
        if isinstance(body, dict) and "detail" in body:
            return str(body["detail"])
    except ValueError:
        pass
    return response.text[:300] or response.reason_phrase


class ServerClient:
    def __init__(
        self,
        base_url: str,
        token: str,
        name: str,
        device: DeviceDescription,
        stop: threading.Event,
        backoff: Backoff | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.name = name
        self.device = device
        self.stop = stop
        self.backoff = backoff or Backoff()
        self._local = threading.local()
        self._auth_lock = threading.Lock()
        self._registration: RegistrationReply | None = None
        self._generation = 0  # bumps on every (re-)registration
        self._clients: list[httpx.Client] = []
        self._clients_lock = threading.Lock()  # not _auth_lock: registering opens a client

    # ---- plumbing ------------------------------------------------------------------

    def _http(self) -> httpx.Client:
        client = getattr(self._local, "client", None)
        if client is None:
            client = httpx.Client(base_url=self.base_url, timeout=REQUEST_TIMEOUT_SECONDS)
            self._local.client = client
            with self._clients_lock:
                self._clients.append(client)
        return client

    def close_thread_client(self) -> None:
        """Close the calling thread's connection (a heartbeat thread lives one batch)."""
        client = getattr(self._local, "client", None)
        if client is not None:
            self._local.client = None
            with self._clients_lock:
                self._clients.remove(client)
            client.close()

    def close(self) -> None:
        with self._clients_lock:
            clients, self._clients = self._clients, []
        for client in clients:
            client.close()

    @property
    def registration(self) -> RegistrationReply:
        if self._registration is None:
            self.register()
        assert self._registration is not None
        return self._registration

    def _wait(self, seconds: float) -> None:
        if self.stop.wait(seconds):
            raise AgentStopped()

    def _send(
        self,
        method: str,
        path: Callable[[RegistrationReply], str] | str,
        *,
        json: Any = None,
        timeout: float = REQUEST_TIMEOUT_SECONDS,
        retry: bool = True,
        authenticated: bool = True,
    ) -> httpx.Response:
        """One request, retried per the module docstring. Returns a 2xx response."""
        attempt = unauthorized = 0
        while True:
            headers, generation = {}, self._generation
            if authenticated:
                reply = self.registration
                headers["Authorization"] = f"Bearer {reply.secret}"
                url = path(reply) if callable(path) else path
            elif callable(path):
                raise TypeError("a path made from the registration needs authenticated=True")
            else:
                url = path
            try:
                response = self._http().request(method, url, json=json, headers=headers, timeout=timeout)
            except httpx.TransportError as exc:
                if not retry:
                    raise
                delay = self.backoff.delay(attempt)
                log.warning("%s %s: %s; retrying in %.1f s", method, url, exc.__class__.__name__, delay)
            else:
                if response.is_success:
                    return response
                if response.status_code == 401 and authenticated:
                    self._reregister(generation)
                    unauthorized += 1
                    if unauthorized == 1:
                        continue  # the usual case: the new secret works at once
                    delay = self.backoff.delay(attempt)  # a server that keeps refusing: do not spin
                    attempt += 1
                    self._wait(delay)
                    continue
                if response.status_code not in TRANSIENT_STATUS or not retry:
                    raise ServerRejected(response.status_code, _detail(response))
                delay = self.backoff.delay(attempt)
                log.warning("%s %s: %d; retrying in %.1f s", method, url, response.status_code, delay)
            attempt += 1
            self._wait(delay)

    def _reregister(self, seen_generation: int) -> None:
        with self._auth_lock:
            if self._generation != seen_generation:
                return  # another thread registered meanwhile: just use the new secret
            log.warning("server no longer knows this agent's secret: registering again")
            self._register_locked()

    # ---- protocol --------------------------------------------------------------------

    def register(self) -> RegistrationReply:
        with self._auth_lock:
            return self._register_locked()

    def _register_locked(self) -> RegistrationReply:
        body = Registration(token=self._token, name=self.name, device=self.device).to_dict()
        try:
            response = self._send("POST", protocol.register_path(), json=body, authenticated=False)
        except ServerRejected as exc:
            if exc.status_code in (401, 403):
                raise RegistrationRefused(exc.status_code, exc.detail) from None
            raise
        self._registration = RegistrationReply.from_dict(response.json())
        self._generation += 1
        log.info(
            "registered as agent %s (profile %s) at %s", self._registration.agent_id, self._registration.profile_id, self.base_url
        )
        return self._registration

    def lease(self, max_jobs: int, wait_seconds: float) -> list[Job]:
        response = self._send(
            "POST",
            lambda reply: protocol.lease_path(reply.agent_id),
            json={"wait_seconds": wait_seconds, "max_jobs": max_jobs},
            timeout=wait_seconds + REQUEST_TIMEOUT_SECONDS,
        )
        return protocol.LeaseReply.from_dict(response.json()).jobs

    def heartbeat(self, job_id: str) -> None:
        """One attempt (the next tick is the retry); ServerRejected 409 = lease lost."""
        self._send("POST", protocol.heartbeat_path(job_id), retry=False)

    def heartbeat_many(self, job_ids: list[str]) -> dict[str, ServerRejected]:
        """Every lease of a batch in one request, one attempt: the jobs the server refused
        (409: the lease is no longer ours) with why."""
        response = self._send(
            "POST", lambda reply: protocol.heartbeats_path(reply.agent_id), json={"job_ids": job_ids}, retry=False
        )
        return {
            item["job_id"]: ServerRejected(int(item["error"]["status"]), str(item["error"]["detail"]))
            for item in response.json()["jobs"]
            if item.get("error")
        }

    def put_result(self, job_id: str, result: JobResult) -> dict[str, Any]:
        return self._send("PUT", protocol.result_path(job_id), json=result.to_dict()).json()

    def put_results(
        self, results: dict[str, JobResult], lease_max_jobs: int | None = None
    ) -> tuple[list[ReportReply], list[Job]]:
        """A lease's results in one request (retried like any: each is idempotent), and the
        jobs of the next lease when `lease_max_jobs` asks for one (a server without it
        returns none, and the agent leases as before)."""
        body = ResultsReport(results, lease_max_jobs).to_dict()
        response = self._send("POST", lambda reply: protocol.results_path(reply.agent_id), json=body)
        reply = response.json()
        replies = [ReportReply.from_dict(item) for item in reply["results"]]
        return replies, protocol.LeaseReply.from_dict(reply).jobs

    def release(self, job_id: str) -> None:
        """Best effort, one attempt: called while shutting down."""
        self._send("POST", protocol.release_path(job_id), retry=False, timeout=5.0)

    def download_blob(self, sha256: str) -> bytes:
        if not SHA256_HEX.match(sha256):
            raise ValueError(f"not a sha256 hex digest: {sha256!r}")
        data = self._send("GET", protocol.blob_path(sha256), timeout=BLOB_TIMEOUT_SECONDS).content
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha256:
            raise ValueError(f"downloaded model {sha256} has sha256 {actual}")
        return data
