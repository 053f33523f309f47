"""Child processes that cannot outlive their parent.

The server's run workers, their fine-tune processes and the embedded agent must stop
when the process that started them dies, even by SIGKILL: otherwise a restarted server
would resume a run that an orphan is still executing. Linux delivers a chosen signal on
parent death (prctl PR_SET_PDEATHSIG); elsewhere this is a no-op and orphans finish
their task. The "parent" is the *thread* that started the child.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys

_PR_SET_PDEATHSIG = 1
# Loaded up front: die_with_parent also runs as a preexec_fn between fork and exec,
# where looking the library up (find_library starts a subprocess) is not safe.
_LIBC = (
    ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if sys.platform.startswith("linux")
    else None
)


def die_with_parent(expected_parent: int | None = None) -> bool:
    """Ask the kernel to SIGKILL this process when its parent exits. If the parent is
    already gone (it died before this ran), exit now. Returns whether it is armed."""
    if _LIBC is None or _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        return False
    # The parent may have died between fork and prctl; then we were re-parented already.
    if expected_parent is not None and os.getppid() != expected_parent:
        os._exit(1)
    return True


def stop_process(process: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM (a chance to hand work back and exit cleanly), then SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
