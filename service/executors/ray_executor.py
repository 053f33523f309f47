"""Proposals fine-tuned as Ray tasks: on a local Ray instance, or on a cluster (RAY_ADDRESS).

The same seam as LocalProcessExecutor: `run(specs, on_result)` runs `run_one(spec,
context)` for every spec and calls `on_result` in the caller's thread, in completion
order. What differs is where, and how models travel:

- Nodes of a cluster share no file system with the driver, so models cross as bytes in
  Ray's object store. The parent `.keras` of an iteration is put there once (one object
  ref shared by all its proposals); each task writes it into a private temporary run
  directory, runs `run_one` there with `context.run_dir` pointing at it, and returns the
  fine-tuned candidate's bytes, which the driver writes into the real run directory
  (atomically) under the reference the result names. Nothing is pickled but plain
  values and bytes.
- Every task runs in a fresh worker process (`max_calls=1`): the process exits when the
  task is done, so TensorFlow's memory goes back to the node, as with a fresh local
  worker. The cost is one TensorFlow import per proposal, small next to a fine-tune.
- Each task reserves `threads` CPUs and limits TensorFlow to that many threads (the same
  `initializer` as the local pool), so with equal seeds and thread counts a proposal
  computes exactly what it computes in a local worker.

Datasets are read by the task itself (`context.data`): the built-in `digits` works
anywhere; a `.npz` or image directory must be at the same path on every node.
The package (`pip install netadapt-service`) must be installed on every node.
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from latency_tables.atomic_files import write_bytes_atomically
from service.netadapt.interfaces import ProposalResult, ProposalSpec
from service.pruning.run_layout import resolve

log = logging.getLogger(__name__)

# Where a task puts a parent whose reference is an absolute path on the driver.
_PARENT_REF = "parent/parent.keras"


def _run_in_fresh_worker(
    run_one: Callable[[ProposalSpec, Any], ProposalResult],
    spec: ProposalSpec,
    context: Any,
    parent_bytes: bytes,
    initializer: Callable[..., None] | None,
    initargs: tuple[Any, ...],
) -> tuple[ProposalResult, bytes]:
    """The body of one Ray task (module level, so workers import it by name)."""
    if initializer is not None:
        initializer(*initargs)
    with tempfile.TemporaryDirectory(prefix="netadapt-proposal-") as tmp:
        run_dir = Path(tmp)
        if Path(spec.parent).is_absolute():
            spec = dataclasses.replace(spec, parent=_PARENT_REF)
        parent = resolve(run_dir, spec.parent)
        parent.parent.mkdir(parents=True, exist_ok=True)
        parent.write_bytes(parent_bytes)
        result = run_one(spec, dataclasses.replace(context, run_dir=str(run_dir)))
        if Path(result.model).is_absolute():
            raise ValueError(f"proposal result names an absolute model path {result.model!r}; use a run-relative reference")
        return result, resolve(run_dir, result.model).read_bytes()


class RayExecutor:
    """Runs `run_one(spec, context)` for each spec as a Ray task (see the module docstring).

    `address`: a Ray cluster to join ("auto", "ray://host:10001", ...), or None to start a
    private local Ray instance with `workers * threads` CPUs, shut down by `close()`.
    `context` must be a dataclass with a `run_dir` field (ProposalContext is one)."""

    def __init__(
        self,
        run_one: Callable[[ProposalSpec, Any], ProposalResult],
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
        self.run_one = run_one
        self.context = context
        self.address = address
        self.workers = max(1, workers)
        self.threads = max(1, threads)
        self._initializer = initializer
        self._initargs = initargs
        self._remote: Any = None
        self._started_ray = False

    def _ensure_ray(self) -> Any:
        try:
            import ray
        except ImportError:
            raise RuntimeError(
                "the ray executor needs Ray: pip install 'netadapt-service[ray]' (on every node)"
            ) from None

        if self._remote is not None:
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
        # max_calls=1: a fresh worker process per task, so TensorFlow's memory is freed.
        self._remote = ray.remote(num_cpus=self.threads, max_calls=1, max_retries=0)(_run_in_fresh_worker)
        return ray

    def run(
        self,
        specs: Sequence[ProposalSpec],
        on_result: Callable[[ProposalResult], None],
    ) -> None:
        if not specs:
            return
        ray = self._ensure_ray()
        run_dir = Path(self.context.run_dir)
        parents: dict[str, Any] = {}  # one object ref per distinct parent model
        pending: dict[Any, ProposalSpec] = {}
        for spec in specs:
            if spec.parent not in parents:
                parents[spec.parent] = ray.put(resolve(run_dir, spec.parent).read_bytes())
            ref = self._remote.remote(
                self.run_one, spec, self.context, parents[spec.parent], self._initializer, self._initargs
            )
            pending[ref] = spec
        try:
            while pending:
                [done], _ = ray.wait(list(pending), num_returns=1)
                pending.pop(done)
                result, model_bytes = ray.get(done)
                write_bytes_atomically(resolve(run_dir, result.model), model_bytes)
                on_result(result)
        except BaseException:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise

    def close(self) -> None:
        if self._started_ray:
            import ray

            ray.shutdown()
            self._started_ray = False
        self._remote = None

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
