"""Wiring only: settings -> database, blob store, wake-up signals (and their PostgreSQL
listener), run supervisor, routers, background loops.

Run with `netadapt serve` (AppServer below), or `uvicorn --factory
service.app:create_app` (settings from NETADAPT_* env vars; open long polls then hold up
its shutdown until uvicorn cancels them).
"""

from __future__ import annotations

import asyncio
import gc
import shutil
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import anyio.to_thread
import uvicorn
from fastapi import FastAPI

from service.api import api_router
from service.api.errors import install_error_handlers
from service.api.http_server import http_server_options, install_header_limit, server_log_config
from service.api.openapi import install_openapi
from service.dashboard import install_dashboard
from service.db.file_store import BlobStore
from service.embedded_agent import EmbeddedAgent
from service.db.notify import JOBS_CHANNEL, RUN_EVENTS_CHANNEL
from service.db.session import Database
from service.queue.background import expire_leases_forever
from service.queue.signal import QueueSignal
from service.runs.supervisor import RunSupervisor
from service.settings import Settings, get_settings
from service.uploads.catalog import INCOMING_DIR


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # Uploads a crash interrupted: nothing refers to them.
    shutil.rmtree(settings.data_dir / INCOMING_DIR, ignore_errors=True)
    database = Database.connect(settings.database_url)
    signal = QueueSignal()  # wakes lease long polls: jobs became claimable
    run_events = QueueSignal()  # wakes event streams: some run has new events
    supervisor = RunSupervisor(settings, database)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The pool sync endpoints and run_in_threadpool share (anyio's, one per event loop).
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.request_threads
        signal.bind(asyncio.get_running_loop())
        run_events.bind(asyncio.get_running_loop())
        # PostgreSQL: what other servers and run workers commit wakes this server's waiters.
        listener = database.listen(
            {JOBS_CHANNEL: lambda _: signal.notify(), RUN_EVENTS_CHANNEL: lambda _: run_events.notify()}
        )
        sweeper = asyncio.create_task(
            expire_leases_forever(database, signal, settings.requeue_interval_seconds), name="lease-expiry"
        )
        runs = asyncio.create_task(supervisor.run_forever(), name="run-supervisor")
        agent = EmbeddedAgent(settings, settings.embedded_agent) if settings.embedded_agent else None
        app.state.embedded_agent = agent
        if agent is not None:
            agent.start()
        try:
            yield
        finally:
            if agent is not None:
                await asyncio.to_thread(agent.stop)
            for task in (sweeper, runs):
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task
            await supervisor.shutdown()
            if listener is not None:
                await asyncio.to_thread(listener.stop)
            database.dispose()

    app = FastAPI(title="NetAdapt service", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.database = database
    app.state.blobs = BlobStore(settings.blob_dir)
    app.state.queue_signal = signal
    app.state.run_events = run_events
    app.state.run_supervisor = supervisor
    install_error_handlers(app)
    install_header_limit(app, settings.max_header_bytes)
    install_openapi(app)
    app.include_router(api_router)
    install_dashboard(app)
    return app


# What uvicorn gives open requests on shutdown before cancelling them (an error and a
# traceback in the log); AppServer ends long polls and event streams before that.
SHUTDOWN_GRACE_SECONDS = 5


class AppServer(uvicorn.Server):
    """uvicorn's server for an app of create_app: on shutdown, it first closes the app's
    wake-up signals, so lease long polls answer and event streams end at once.

    uvicorn's own shutdown stops accepting, waits for the open requests (up to
    `timeout_graceful_shutdown`, then cancels them with an error and a traceback in the
    log) and only then runs the app's lifespan shutdown: a lease waiting out its long
    poll, or a run's event stream, would hold it up or end in that traceback. Agents ask
    again; EventSource clients reconnect with Last-Event-ID.
    """

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        state = self.config.app.state
        state.queue_signal.close()
        state.run_events.close()
        await super().shutdown(sockets=sockets)


def serve(settings: Settings | None = None) -> None:
    """Run the server in the foreground on settings.host:settings.port."""
    settings = settings or get_settings()
    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
        log_config=server_log_config(),
        **http_server_options(settings),
    )
    server = AppServer(config)
    # The modules and the app built so far live as long as the process: moved out of the
    # collector's generations, a full collection no longer walks them (~138,000 objects,
    # 49 ms per full collection here, during which every request waits; with it, requests
    # over 100 ms in benchmarks/agents_load.py fell from 86 to 30 of 1,000).
    gc.collect()
    gc.freeze()
    try:
        server.run()
    except KeyboardInterrupt:  # Ctrl-C: uvicorn shut down, then raised the signal again
        pass
    if not server.started:  # e.g. the port is taken: uvicorn has logged why
        raise SystemExit(3)
