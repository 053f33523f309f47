"""The agent loop: register, lease, build or fetch models, measure, report, repeat.

One batch = the jobs of one lease (up to max_jobs), measured in one
`Backend.measure_many` call (host-instructions pays its ~10 s valgrind start-up once
per batch, not once per job) and reported in one request. While a batch is in hand a
heartbeat thread renews every job's lease each `heartbeat_seconds`.

Stopping (SIGTERM, SIGINT): the handler sets `stop`. If the main thread is building
or measuring, it is interrupted at once (AgentStopped is raised there; a valgrind
child is killed by subprocess.run on the way out). A lease request in flight is let
finish (at most `wait_seconds`, the long poll): abandoning it would leave the jobs the
server handed out in its reply leased to us and unknown to us until their lease
expired. A report in progress finishes too. Jobs leased but not reported are then
released, so another agent takes them now rather than after the lease expires. A
second signal interrupts wherever the agent is.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import httpx

from device_agent.backends.base import Backend
from device_agent.model_cache import BlobCache, LayerModelCache
from device_agent.server_client import AgentStopped, ServerClient, ServerRejected
from device_agent.text import one_line
from latency_tables import LayerSignature
from latency_tables.protocol import Job, JobResult

log = logging.getLogger(__name__)

LEASE_WAIT_SECONDS = 10.0  # also the longest SIGTERM waits for an idle agent
LEASE_LOST_STATUS = frozenset({404, 409})
# What a server older than batch reports answers for them: report job by job instead.
OLD_SERVER_STATUS = frozenset({404, 405})


class JobUnmeasurable(Exception):
    """This job cannot be measured here; reported as JobResult(error=...)."""


@dataclass
class BatchOutcome:
    jobs: int = 0
    measured: int = 0
    failed: int = 0
    rejected: int = 0  # results the server refused
    seconds: float = 0.0
    measure_seconds: float = 0.0
    # Leased by the results' request (the next batch), unless the agent is stopping.
    next_jobs: list[Job] = field(default_factory=list)


class HeartbeatThread(threading.Thread):
    """Renews the leases of `job_ids` every `interval` seconds until stopped, all in one
    request (one per job to a server without batch heartbeats)."""

    def __init__(self, client: ServerClient, job_ids: list[str], interval: float) -> None:
        super().__init__(name="heartbeat", daemon=True)
        self.client = client
        self.job_ids = list(job_ids)
        self.interval = interval
        self.lost: set[str] = set()
        self._done = threading.Event()

    def run(self) -> None:
        try:
            self._beat()
        finally:
            self.client.close_thread_client()

    def _beat(self) -> None:
        batched = True  # one request for the batch, unless the server is older than that
        while not self._done.wait(self.interval):
            live = [j for j in self.job_ids if j not in self.lost]
            if batched and live:
                try:
                    for job_id, refused in self.client.heartbeat_many(live).items():
                        self._refused(job_id, refused)
                    continue
                except ServerRejected as exc:
                    if exc.status_code not in OLD_SERVER_STATUS:
                        log.warning("heartbeat refused: %s", exc)
                        continue
                    batched = False
                except (httpx.TransportError, AgentStopped) as exc:
                    log.debug("heartbeat failed: %s", exc)  # next tick retries
                    continue
                except Exception as exc:  # never let the thread die silently
                    log.warning("heartbeat error: %s", one_line(exc))
                    continue
            for job_id in live:
                if self._done.is_set():
                    return
                try:
                    self.client.heartbeat(job_id)
                except ServerRejected as exc:
                    self._refused(job_id, exc)
                except (httpx.TransportError, AgentStopped) as exc:
                    log.debug("job %s: heartbeat failed: %s", job_id, exc)  # next tick retries
                except Exception as exc:  # never let the thread die silently
                    log.warning("job %s: heartbeat error: %s", job_id, one_line(exc))

    def _refused(self, job_id: str, exc: ServerRejected) -> None:
        if exc.status_code in LEASE_LOST_STATUS:
            # Measuring on is still useful: a late result is accepted if nobody else
            # finished the job first.
            self.lost.add(job_id)
            log.warning("job %s: lease lost (%s)", job_id, exc.detail)
        else:
            log.warning("job %s: heartbeat refused: %s", job_id, exc)

    def stop(self) -> None:
        self._done.set()
        self.join(timeout=5)


class AgentRunner:
    def __init__(
        self,
        backend: Backend,
        client: ServerClient,
        blob_cache: BlobCache,
        layer_cache: LayerModelCache | None = None,
        max_jobs: int = 8,
        wait_seconds: float = LEASE_WAIT_SECONDS,
    ) -> None:
        if max_jobs < 1:
            raise ValueError(f"max_jobs must be >= 1, got {max_jobs}")
        self.backend = backend
        self.client = client
        self.stop = client.stop
        self.blobs = blob_cache
        self.layers = layer_cache or LayerModelCache()
        self.max_jobs = max_jobs
        self.wait_seconds = wait_seconds
        self.outstanding: dict[str, Job] = {}  # leased, not yet reported
        self._interruptible = False

    # ---- lifecycle --------------------------------------------------------------------

    def run(self) -> int:
        """Serve until SIGTERM/SIGINT. Returns the exit code."""
        previous = self._install_signal_handlers()
        try:
            self.client.register()
            jobs: list[Job] = []
            while not self.stop.is_set():
                # Not interruptible: jobs the server hands out in a reply we abandoned
                # would stay leased to us, unknown, until their lease expired.
                if not jobs:
                    jobs = self.client.lease(self.max_jobs, self.wait_seconds)
                if self.stop.is_set():
                    self.outstanding.update((job.id, job) for job in jobs)  # released below
                    break
                if jobs:
                    # The report of a batch leases the next one: one request per batch
                    # while the queue has work (a long-poll lease when it had none).
                    jobs = self.run_batch(jobs).next_jobs
        except AgentStopped:
            pass
        finally:
            self._release_outstanding()
            self._restore_signal_handlers(previous)
        log.info("agent stopped")
        return 0

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.stop.is_set():  # a second signal: the operator does not want to wait
            raise AgentStopped()
        self.stop.set()
        log.info("%s: stopping", signal.Signals(signum).name)
        if self._interruptible:
            self._interruptible = False
            raise AgentStopped()

    def _install_signal_handlers(self) -> dict[int, Any]:
        previous: dict[int, Any] = {}
        if threading.current_thread() is not threading.main_thread():
            return previous  # signals are delivered to the main thread only
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, self._on_signal)
        return previous

    @staticmethod
    def _restore_signal_handlers(previous: dict[int, Any]) -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

    def _interrupt_allowed(self) -> "_Interruptible":
        return _Interruptible(self)

    def _release_outstanding(self) -> None:
        for job_id in list(self.outstanding):
            try:
                self.client.release(job_id)
                log.info("job %s: released", job_id)
            except (ServerRejected, httpx.TransportError, AgentStopped) as exc:
                log.warning("job %s: could not release (%s); its lease will expire", job_id, one_line(exc))
            self.outstanding.pop(job_id, None)

    # ---- one batch ------------------------------------------------------------------

    def run_batch(self, jobs: list[Job]) -> BatchOutcome:
        started = time.monotonic()
        outcome = BatchOutcome(jobs=len(jobs))
        for job in jobs:
            self.outstanding[job.id] = job
        heartbeat = HeartbeatThread(self.client, [j.id for j in jobs], self.client.registration.heartbeat_seconds)
        heartbeat.start()
        try:
            with self._interrupt_allowed():
                results = self._measure(jobs, outcome)
            self._report(jobs, results, outcome)
        finally:
            heartbeat.stop()
        outcome.seconds = time.monotonic() - started
        log.info(
            "batch: %d jobs, %d measured, %d failed, %d rejected by the server, %.2f s (measuring %.2f s); "
            "%d more leased with the report",
            outcome.jobs, outcome.measured, outcome.failed, outcome.rejected, outcome.seconds, outcome.measure_seconds,
            len(outcome.next_jobs),
        )
        return outcome

    def _measure(self, jobs: list[Job], outcome: BatchOutcome) -> dict[str, JobResult]:
        results: dict[str, JobResult] = {}
        to_measure: list[tuple[Job, bytes]] = []
        for job in jobs:
            try:
                to_measure.append((job, self.model_for(job)))
            except JobUnmeasurable as exc:
                results[job.id] = JobResult(error=one_line(exc))
        if to_measure:
            started = time.monotonic()
            measurements = self.backend.measure_many([model for _, model in to_measure])
            outcome.measure_seconds = time.monotonic() - started
            for (job, _), measurement in zip(to_measure, measurements, strict=True):
                results[job.id] = measurement.to_job_result()
        for result in results.values():
            if result.error is None:
                outcome.measured += 1
            else:
                outcome.failed += 1
        return results

    def model_for(self, job: Job) -> bytes:
        """The .tflite to measure for `job`. JobUnmeasurable says why there is none."""
        if job.metric != self.backend.metric:
            raise JobUnmeasurable(f"job wants {job.metric} but backend {self.backend.name} measures {self.backend.metric}")
        if job.kind == "layer":
            if not job.signature:
                raise JobUnmeasurable("layer job without a signature")
            try:
                signature = LayerSignature.from_dict(job.signature)
            except (ValueError, TypeError, KeyError) as exc:
                raise JobUnmeasurable(f"invalid layer signature: {one_line(exc)}") from None
            try:
                return self.layers.get(signature)
            except Exception as exc:  # the builder's failure is the job's result, not a crash
                raise JobUnmeasurable(f"cannot build a one-op model for {signature.op}: {one_line(exc)}") from None
        if job.kind == "model":
            if not job.model_sha256:
                raise JobUnmeasurable("model job without model_sha256")
            try:
                return self.blobs.get(job.model_sha256)
            except (ServerRejected, ValueError) as exc:
                raise JobUnmeasurable(f"cannot get model {job.model_sha256}: {one_line(exc)}") from None
        raise JobUnmeasurable(f"unknown job kind {job.kind!r}")

    def _report(self, jobs: list[Job], results: dict[str, JobResult], outcome: BatchOutcome) -> None:
        """The batch's results in one request (one PUT per job to a server without it)."""
        lease_max_jobs = None if self.stop.is_set() else self.max_jobs
        try:
            replies, outcome.next_jobs = self.client.put_results(
                {job.id: results[job.id] for job in jobs}, lease_max_jobs
            )
        except ServerRejected as exc:
            if exc.status_code in OLD_SERVER_STATUS:
                for job in jobs:
                    self._report_one(job, results[job.id], outcome)
                return
            outcome.rejected += len(jobs)
            log.warning("%d results not accepted: %s", len(jobs), exc)
            replies = []
        for job in jobs:
            self.outstanding.pop(job.id, None)
        # Held until measured and reported: a stop before then releases them.
        self.outstanding.update((job.id, job) for job in outcome.next_jobs)
        for reply in replies:
            if reply.refused_status is not None:
                outcome.rejected += 1
                log.warning("job %s: result not accepted: %d %s", reply.job_id, reply.refused_status, reply.refused_detail)

    def _report_one(self, job: Job, result: JobResult, outcome: BatchOutcome) -> None:
        try:
            self.client.put_result(job.id, result)
        except ServerRejected as exc:
            outcome.rejected += 1
            log.warning("job %s: result not accepted: %s", job.id, exc)
        self.outstanding.pop(job.id, None)


class _Interruptible:
    """Marks a stretch where SIGTERM may interrupt the main thread at once."""

    def __init__(self, runner: AgentRunner) -> None:
        self.runner = runner

    def __enter__(self) -> None:
        if self.runner.stop.is_set():
            raise AgentStopped()
        self.runner._interruptible = True

    def __exit__(self, *exc: object) -> None:
        self.runner._interruptible = False
