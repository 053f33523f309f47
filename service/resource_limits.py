"""Memory caps for the server's child processes (upload inspection, run workers) and how
to tell that one was hit.

A child caps its own address space (RLIMIT_AS) before it imports TensorFlow; its own
children (a run's fine-tune processes) inherit the cap. An allocation past it fails in
the process that asked, as a Python MemoryError, a TensorFlow ResourceExhaustedError, or
a C++ std::bad_alloc that aborts the process: `is_out_of_memory` and
`OUT_OF_MEMORY_MARKERS` recognise each, so the user is told which limit to raise instead
of seeing an internal error.
"""

from __future__ import annotations

import resource

# What an allocation failure says: numpy, TensorFlow, the C library, C++.
OUT_OF_MEMORY_MESSAGES = ("Unable to allocate", "OOM when allocating", "Cannot allocate memory", "std::bad_alloc")
# ... and what a process that died of one leaves in its log or stderr (abseil's allocator,
# inside TensorFlow, aborts with "mmap error: 12": ENOMEM).
OUT_OF_MEMORY_MARKERS = (*OUT_OF_MEMORY_MESSAGES, "MemoryError", "ResourceExhausted", "mmap error: 12", "[Errno 12]")


def limit_address_space(max_bytes: int) -> None:
    """Cap this process (and the children it starts from now on) at `max_bytes` of
    address space; no core dumps (an abort() must not write gigabytes)."""
    resource.setrlimit(resource.RLIMIT_AS, (max_bytes, max_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def is_out_of_memory(exc: BaseException) -> bool:
    """An allocation failure, also when wrapped in another error (Keras: "A total of 1
    objects could not be loaded ... Unable to allocate 645. MiB"), or reported by a child
    process in the error's text."""
    for error in (exc, exc.__cause__, exc.__context__):
        if isinstance(error, MemoryError) or type(error).__name__ == "ResourceExhaustedError":
            return True  # TensorFlow's, matched by name: no TensorFlow import needed here
        if error is not None and mentions_out_of_memory(str(error)):
            return True
    return False


def mentions_out_of_memory(text: str) -> bool:
    """Whether a dead process's log tail shows an allocation failure."""
    return any(marker in text for marker in OUT_OF_MEMORY_MARKERS)


def run_out_of_memory_message(limit_bytes: int) -> str:
    """A run's failure when its worker (or a fine-tune process) hit run_memory_bytes."""
    return (
        f"the run ran out of memory: a run worker and each of its fine-tune processes may use "
        f"{limit_bytes:,} bytes (NETADAPT_RUN_MEMORY_BYTES); raise that limit, or use a smaller "
        "training.batch_size, a smaller dataset or a model with a smaller input"
    )
