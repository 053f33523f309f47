"""Proposals fine-tuned by Ray actors: on a local Ray instance, or on a cluster (RAY_ADDRESS).

The same seam as LocalProcessExecutor: `run(specs, on_result)` runs `run_one(spec,
context)` for every spec and calls `on_result` in the caller's thread, in completion
order. What differs is where, and how models travel:

- A run gets `workers` long-lived actors. An actor keeps what makes a proposal cheap for
  the whole run: TensorFlow imported once, the run's data resident, and the compiled
  train step of the current parent (run_one caches it per process, as a local worker
  does). When the run ends (`close()`), the actors are killed, so TensorFlow's memory
  goes back to the nodes.
- Nodes of a cluster share no file system with the driver, so models cross as bytes in
  Ray's object store. The parent of an iteration is put there once (one object ref shared
  by all its proposals); an actor writes it once into its own directory and runs `run_one`
  there, with `context.run_dir` pointing at it, and returns the bytes of the file the
  result names, which the driver writes into the real run directory (atomically) under
  that reference. Nothing is pickled but plain values and bytes.
- Each actor reserves `threads` CPUs and limits TensorFlow to that many threads (the same
  `initializer` as the local pool), so with equal seeds and thread counts a proposal
  computes exactly what it computes in a local worker.

Datasets are read by the actor itself (`context.data`): the built-in `digits` works
anywhere; a `.npz` or image directory must be at the same path on every node.
The package (`pip install netadapt-service`) must be installed on every node.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from latency_tables.atomic_files import write_bytes_atomically
from service.executors.proposal_pool import OnResult, ProposalPool, RunOne
from service.netadapt.interfaces import ProposalResult, ProposalSpec
from service.pruning.run_layout import resolve

log = logging.getLogger(__name__)


class ProposalActor:
    """The body of one Ray actor (a plain class; the executor wraps it with ray.remote)."""

    def __init__(self, initializer: Callable[..., None] | None, initargs: tuple[Any, ...]) -> None:
        if initializer is not None:
            initializer(*initargs)
        self.directory = Path(tempfile.mkdtemp(prefix="netadapt-actor-"))

    def run(
        self,
        run_one: RunOne,
        spec: ProposalSpec,
        context: Any,
        parent_bytes: bytes,
    ) -> tuple[ProposalResult, bytes]:
        # The parent under a name of its content: written once per parent, and a new parent
        # is a new file (the proposal cache keys on the parent file).
        digest = hashlib.sha256(parent_bytes).hexdigest()[:24]
        parent_ref = f"parents/{digest}{Path(spec.parent).suffix}"
        parent = resolve(self.directory, parent_ref)
        if not parent.exists():
            write_bytes_atomically(parent, parent_bytes)
        spec = dataclasses.replace(spec, parent=parent_ref)
        result = run_one(spec, dataclasses.replace(context, run_dir=str(self.directory)))
        if not result.model:
            return result, b""
        if Path(result.model).is_absolute():
            raise ValueError(
                f"proposal result names an absolute model path {result.model!r}; use a "
                "run-relative reference"
            )
        return result, resolve(self.directory, result.model).read_bytes()

    def cleanup(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


class RayExecutor(ProposalPool):
    """Runs `run_one(spec, context)` for each spec on `workers` Ray actors (see the module
    docstring).

    `address`: a Ray cluster to join ("auto", "ray://host:10001", ...), or None to start a
    private local Ray instance with `workers * threads` CPUs, shut down by `close()`.
    `context` must be a dataclass with a `run_dir` field (ProposalContext is one)."""

    def __init__(
        self,
        run_one: RunOne,
        context: Any,
        *,
        address: str | None = None,
        workers: int = 1,
        threads: int = 1,
        initializer: Callable[..., None] | None = None,
        initargs: tuple[Any, ...] = (),
    ) -> None:
        if not dataclasses.is_dataclass(context) or not hasattr(context, "run_dir"):
            raise TypeError("RayExecutor needs a dataclass context with a run_dir field")
        super().__init__(run_one, context, initializer, initargs)
        self.address = address
        self.workers = max(1, workers)
        self.threads = max(1, threads)
        self._actors: list[Any] = []
        self._started_ray = False

    def _ensure_actors(self) -> Any:
        try:
            import ray
        except ImportError:
            raise RuntimeError(
                "the ray executor needs Ray: pip install 'netadapt-service[ray]' (on every node)"
            ) from None

        if self._actors:
            return ray
        if not ray.is_initialized():
            options: dict[str, Any] = {
                "include_dashboard": False,
                "logging_level": logging.WARNING,
                "log_to_driver": True,
            }
            if self.address:
                ray.init(address=self.address, **options)
            else:
                ray.init(num_cpus=self.workers * self.threads, **options)
            self._started_ray = True
        remote = ray.remote(num_cpus=self.threads, max_restarts=0)(ProposalActor)
        self._actors = [
            remote.remote(self._initializer, self._initargs) for _ in range(self.workers)
        ]
        return ray

    def _run(self, specs: Sequence[ProposalSpec], on_result: OnResult) -> None:
        ray = self._ensure_actors()
        run_dir = Path(self.context.run_dir)
        parents: dict[str, Any] = {}  # one object ref per distinct parent model
        queue = list(specs)
        pending: dict[Any, Any] = {}  # object ref -> the actor computing it

        def submit(actor: Any) -> None:
            spec = queue.pop(0)
            if spec.parent not in parents:
                parents[spec.parent] = ray.put(resolve(run_dir, spec.parent).read_bytes())
            ref = actor.run.remote(self.run_one, spec, self.context, parents[spec.parent])
            pending[ref] = actor

        try:
            for actor in self._actors:
                if queue:
                    submit(actor)
            while pending:
                [done], _ = ray.wait(list(pending), num_returns=1)
                actor = pending.pop(done)
                result, model_bytes = ray.get(done)
                if result.model:
                    write_bytes_atomically(resolve(run_dir, result.model), model_bytes)
                if queue:
                    submit(actor)
                on_result(result)
        except BaseException:
            for ref in pending:
                ray.cancel(ref, force=True)
            self._kill_actors()
            raise

    def _kill_actors(self) -> None:
        if not self._actors:
            return
        import ray

        try:  # their temporary directories; a busy or dead actor just leaves its own
            ray.get([actor.cleanup.remote() for actor in self._actors], timeout=30)
        except Exception:
            log.debug("proposal actors did not clean up", exc_info=True)
        for actor in self._actors:
            ray.kill(actor)
        self._actors = []

    def close(self) -> None:
        self._kill_actors()
        if self._started_ray:
            import ray

            ray.shutdown()
            self._started_ray = False
