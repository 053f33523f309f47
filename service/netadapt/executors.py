"""In-process proposal executor. (Process-pool and Ray executors live elsewhere.)"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from service.netadapt.interfaces import ProposalResult, ProposalSpec


class SerialExecutor:
    """Runs proposals one after another in the calling thread."""

    def __init__(self, run_one: Callable[[ProposalSpec], ProposalResult]) -> None:
        self.run_one = run_one

    def run(
        self,
        specs: Sequence[ProposalSpec],
        on_result: Callable[[ProposalResult], None],
    ) -> None:
        # No try/except: an exception from on_result (e.g. a failed checkpoint) must stop
        # the run before the next proposal starts.
        for spec in specs:
            on_result(self.run_one(spec))
