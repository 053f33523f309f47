"""The server's run supervisor: hands queued runs to worker processes, stops cancelled
ones, and settles runs whose worker ended.

Runs live in the database, so the supervisor keeps no state a crash could lose: runs a
server left running when it died (their workers died with it: they are armed with
PR_SET_PDEATHSIG) go back to the queue, and their new workers resume from the
checkpoint. With one server (SQLite) that happens when it starts again; with several on
one PostgreSQL database every server looks for runs no live server holds
(service.runs.claims) as it starts and every RUN_SWEEP_SECONDS after.

Workers are spawned from the event loop's thread on purpose: the parent-death signal
fires when the *thread* that started a child exits, and the loop thread lives as long as
the server.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from service.db.runs import CANCELLING, RUNNING, Run
from service.db.session import Database
from service.resource_limits import mentions_out_of_memory, run_out_of_memory_message
from service.runs import repository
from service.runs.claims import run_holds
from service.settings import Settings, settings_environment

log = logging.getLogger(__name__)

_LOG_TAIL_CHARS = 600
RUN_SWEEP_SECONDS = 2.0  # how often a server looks for runs whose server died (several servers)


@dataclass
class WorkerProcess:
    run_id: str
    process: subprocess.Popen[bytes]
    log_path: Path
    term_sent_at: float | None = None
    killed: bool = field(default=False)


def worker_log_path(settings: Settings, run_id: str) -> Path:
    return settings.runs_dir / f"{run_id}.worker.log"


def log_tail(path: Path) -> str:
    """The last meaningful line of a worker log (what a person needs to see first)."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 8192))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][-_LOG_TAIL_CHARS:] if lines else ""


class RunSupervisor:
    def __init__(self, settings: Settings, database: Database) -> None:
        self.settings = settings
        self.database = database
        self.workers: dict[str, WorkerProcess] = {}
        self.holds = run_holds(database.engine)
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._last_sweep = 0.0

    # -- called from request handlers (any thread) ------------------------------------------

    def wake(self) -> None:
        """Look at the queue now instead of at the next interval."""
        if self._loop is not None and self._wake is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    # -- the loop ---------------------------------------------------------------------------

    async def run_forever(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        requeued = await asyncio.to_thread(self._requeue_orphans)
        if requeued:
            log.info("resuming %d run(s) left running by a server that stopped: %s", len(requeued), requeued)
        while True:
            try:
                await self.tick()
            except Exception:  # one bad tick must not stop supervising
                log.exception("run supervisor tick failed")
            try:
                await asyncio.wait_for(self._wake.wait(), self.settings.supervisor_interval_seconds)
            except TimeoutError:
                pass
            self._wake.clear()

    async def tick(self) -> None:
        await self._reap()
        await self._stop_cancelled()
        if self.holds.multi_server:
            await self._check_holds()
        await self._start_queued()

    async def shutdown(self) -> None:
        """Stop every worker (their runs go back to the queue and resume next start)."""
        for worker in self.workers.values():
            _signal_group(worker.process, signal.SIGTERM)
        deadline = time.monotonic() + max(self.settings.cancel_grace_seconds, 1.0)
        for worker in self.workers.values():
            while worker.process.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            if worker.process.poll() is None:
                _signal_group(worker.process, signal.SIGKILL)
                worker.process.wait()
        if self.workers:
            await asyncio.to_thread(
                self._requeue, "the server stopped; the run resumes when a server starts it again", list(self.workers)
            )
        self.workers.clear()
        await asyncio.to_thread(self.holds.close)

    # -- steps ------------------------------------------------------------------------------

    async def _reap(self) -> None:
        for run_id, worker in list(self.workers.items()):
            code = worker.process.poll()
            if code is None:
                continue
            del self.workers[run_id]
            tail = "" if code == 0 else log_tail(worker.log_path)
            if code != 0 and self.settings.run_memory_bytes and mentions_out_of_memory(tail):
                # Killed by an allocation past its limit (a C++ std::bad_alloc aborts).
                tail = run_out_of_memory_message(self.settings.run_memory_bytes)
            await asyncio.to_thread(self._settle, run_id, code, tail)
            await asyncio.to_thread(self.holds.release, run_id)

    async def _stop_cancelled(self) -> None:
        cancelling = await asyncio.to_thread(self._cancelling_ids)
        now = time.monotonic()
        for run_id in cancelling:
            worker = self.workers.get(run_id)
            if worker is None:
                if self.holds.multi_server:
                    continue  # another server's run; if that server died, the sweep settles it
                # No process here (it ended, or never started): settle now.
                await asyncio.to_thread(self._settle, run_id, 0, "")
            elif worker.term_sent_at is None:
                worker.term_sent_at = now
                _signal_group(worker.process, signal.SIGTERM)
            elif not worker.killed and now - worker.term_sent_at > self.settings.cancel_grace_seconds:
                worker.killed = True
                _signal_group(worker.process, signal.SIGKILL)

    async def _check_holds(self) -> None:
        """Several servers: stop workers of runs this server lost, requeue runs nobody holds."""
        for run_id in await asyncio.to_thread(self.holds.lost, list(self.workers)):
            worker = self.workers.pop(run_id)
            log.warning("run %s: another server took it over while this one was cut off; stopping its worker", run_id)
            _signal_group(worker.process, signal.SIGKILL)
            worker.process.wait()
        if time.monotonic() - self._last_sweep >= RUN_SWEEP_SECONDS:
            requeued = await asyncio.to_thread(self._requeue_orphans)
            if requeued:
                log.info("requeued %d run(s) whose server stopped: %s", len(requeued), requeued)

    async def _start_queued(self) -> None:
        free = self.settings.max_concurrent_runs - len(self.workers)
        if free <= 0:
            return
        claimed = await asyncio.to_thread(self._claim, free)
        for run_id in claimed:
            worker = self._spawn(run_id)
            self.workers[run_id] = worker
            await asyncio.to_thread(self._record_pid, run_id, worker.process.pid)

    def _spawn(self, run_id: str) -> WorkerProcess:
        log_path = worker_log_path(self.settings, run_id)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "service.runs.worker", run_id, "--parent", str(os.getpid())]
        if self.settings.run_memory_bytes:
            command += ["--memory-bytes", str(self.settings.run_memory_bytes)]
        with log_path.open("ab") as log_file:
            process = subprocess.Popen(
                command,
                env={**os.environ, **settings_environment(self.settings)},
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                # Its own process group: cancel stops the worker and its fine-tune processes.
                start_new_session=True,
            )
        log.info("run %s: worker pid %d", run_id, process.pid)
        return WorkerProcess(run_id, process, log_path)

    # -- database work (in a thread) --------------------------------------------------------

    def _requeue(self, reason: str, run_ids: list[str] | None = None) -> list[str]:
        with self.database.session() as session:
            return repository.requeue_interrupted(session, reason, run_ids)

    def _requeue_orphans(self) -> list[str]:
        """Runs left running by a server that is gone: back to the queue."""
        self._last_sweep = time.monotonic()
        if not self.holds.multi_server:  # the only server: every running run is a previous one's
            return self._requeue("the server restarted; resuming at the next unfinished proposal")
        reason = "the server running it stopped; resuming at the next unfinished proposal"
        with self.database.session() as session:
            active = session.scalars(select(Run.id).where(Run.status.in_((RUNNING, CANCELLING)))).all()
        orphans = self.holds.orphaned([run_id for run_id in active if run_id not in self.workers])
        try:
            return self._requeue(reason, orphans) if orphans else []
        finally:
            for run_id in orphans:
                self.holds.release(run_id)

    def _claim(self, limit: int) -> list[str]:
        with self.database.session() as session:
            return [run.id for run in repository.claim_queued(session, limit, self.holds.hold)]

    def _record_pid(self, run_id: str, pid: int) -> None:
        with self.database.session() as session:
            repository.set_worker_pid(session, run_id, pid)

    def _settle(self, run_id: str, code: int, tail: str) -> None:
        with self.database.session() as session:
            repository.worker_exited(session, run_id, code, tail)

    def _cancelling_ids(self) -> list[str]:
        with self.database.session() as session:
            return list(session.scalars(select(Run.id).where(Run.status == CANCELLING)))


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass
