"""The server's periodic lease-expiry sweep (lease requests also sweep on arrival)."""

from __future__ import annotations

import asyncio
import logging

import anyio.to_thread

from service.db.session import Database
from service.queue.jobs import RequeueReport, requeue_expired
from service.queue.signal import QueueSignal

log = logging.getLogger(__name__)


def sweep_expired_leases(database: Database, signal: QueueSignal | None = None) -> RequeueReport:
    with database.session() as session:
        report = requeue_expired(session)
    if report.requeued and signal is not None:
        signal.notify()  # jobs are claimable again: wake waiting agents
    if report.requeued or report.failed:
        log.info("lease expiry: %d requeued, %d failed", len(report.requeued), len(report.failed))
    return report


async def expire_leases_forever(database: Database, signal: QueueSignal, interval_seconds: float) -> None:
    while True:
        await asyncio.sleep(interval_seconds)
        try:
            await anyio.to_thread.run_sync(sweep_expired_leases, database, signal)
        except Exception:  # keep sweeping: one failed sweep (e.g. a locked DB) is not fatal
            log.exception("lease expiry sweep failed")
