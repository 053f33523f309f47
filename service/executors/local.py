"""Proposals fine-tuned in parallel in a pool of local worker processes, spawned once per
run and reused for every iteration."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

from service.executors.proposal_pool import OnResult, ProposalPool, RunOne
from service.netadapt.interfaces import ProposalSpec


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


class LocalProcessExecutor(ProposalPool):
    """Runs `run_one(spec, context)` for each spec in a pool of `workers` processes.

    Workers are spawned (not forked: a forked TensorFlow runtime is not safe) and reused
    across iterations so TensorFlow is imported once per worker. Results come back to the
    caller's thread in completion order."""

    def __init__(
        self,
        run_one: RunOne,
        context: Any,
        workers: int | None = None,
        initializer: Callable[..., None] | None = None,
        initargs: tuple[Any, ...] = (),
    ) -> None:
        super().__init__(run_one, context, initializer, initargs)
        self.workers = workers or default_workers()
        self._pool: ProcessPoolExecutor | None = None

    def _ensure_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=self._initializer,
                initargs=self._initargs,
            )
        return self._pool

    def _run(self, specs: Sequence[ProposalSpec], on_result: OnResult) -> None:
        pool = self._ensure_pool()
        pending: set[Future] = {pool.submit(self.run_one, s, self.context) for s in specs}
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    on_result(future.result())
        except BaseException:
            for future in pending:
                future.cancel()
            raise

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
