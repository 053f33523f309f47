"""A stand-in for run_proposal that needs no TensorFlow: it 'prunes' by appending a line to
the parent file and reports which process ran it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from service.netadapt.interfaces import ProposalResult, ProposalSpec
from service.pruning.run_layout import proposal_ref, resolve


@dataclass(frozen=True)
class FakeContext:
    run_dir: str


def note_threads(threads: int) -> None:
    # In the process environment, not a module global: Ray may ship this module by value,
    # giving each function its own copy of the module's globals.
    os.environ["FAKE_PROPOSALS_INIT"] = os.environ.get("FAKE_PROPOSALS_INIT", "") + f"{threads},"


def fake_run_one(spec: ProposalSpec, context: FakeContext) -> ProposalResult:
    run_dir = Path(context.run_dir)
    parent = resolve(run_dir, spec.parent).read_bytes()
    ref = proposal_ref(spec.iteration, spec.group)
    resolve(run_dir, ref).parent.mkdir(parents=True, exist_ok=True)
    resolve(run_dir, ref).write_bytes(parent + f"{spec.group}:{spec.channels}\n".encode())
    return ProposalResult(
        iteration=spec.iteration,
        group=spec.group,
        model=ref,
        holdout_accuracy=spec.channels / 100,
        finetune_seconds=0.0,
        extra={"pid": os.getpid(), "run_dir": str(run_dir), "initialized": os.environ.get("FAKE_PROPOSALS_INIT", "")},
    )
