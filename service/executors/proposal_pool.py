"""What both executors share: `run_one(spec, context)` for every spec on workers started
with `initializer(*initargs)`, results handed to `on_result` in the caller's thread."""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from typing import Any, Self

from service.netadapt.interfaces import ProposalResult, ProposalSpec

RunOne = Callable[[ProposalSpec, Any], ProposalResult]
OnResult = Callable[[ProposalResult], None]


class ProposalPool(abc.ABC):
    def __init__(
        self, run_one: RunOne, context: Any, initializer: Callable[..., None] | None, initargs: tuple[Any, ...]
    ) -> None:
        self.run_one = run_one
        self.context = context
        self._initializer = initializer
        self._initargs = initargs

    def run(self, specs: Sequence[ProposalSpec], on_result: OnResult) -> None:
        """Every spec's result to `on_result`, in completion order; no workers start for none."""
        if specs:
            self._run(specs, on_result)

    @abc.abstractmethod
    def _run(self, specs: Sequence[ProposalSpec], on_result: OnResult) -> None: ...

    @abc.abstractmethod
    def close(self) -> None:
        """Stop the workers; the pool may not be used again."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
