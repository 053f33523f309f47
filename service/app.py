"""Wiring only: settings -> database, blob store, queue signal, routers, background sweep.

Run with `uvicorn --factory service.app:create_app` (settings from NETADAPT_* env vars).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from fastapi import FastAPI

from service.api import api_router
from service.api.errors import install_error_handlers
from service.db.blobs import BlobStore
from service.db.session import Database
from service.queue.background import expire_leases_forever
from service.queue.signal import QueueSignal
from service.settings import Settings, get_settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    database = Database.connect(settings.database_url)
    signal = QueueSignal()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        signal.bind(asyncio.get_running_loop())
        sweeper = asyncio.create_task(
            expire_leases_forever(database, signal, settings.requeue_interval_seconds), name="lease-expiry"
        )
        try:
            yield
        finally:
            sweeper.cancel()
            with suppress(asyncio.CancelledError):
                await sweeper
            database.dispose()

    app = FastAPI(title="NetAdapt service", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.database = database
    app.state.blobs = BlobStore(settings.blob_dir)
    app.state.queue_signal = signal
    install_error_handlers(app)
    app.include_router(api_router)
    return app


def serve(settings: Settings | None = None) -> None:
    """Run the server in the foreground on settings.host:settings.port."""
    import uvicorn

    settings = settings or get_settings()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port)
