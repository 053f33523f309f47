"""HTTP routers, one per resource, mounted under protocol.API_PREFIX (/v1)."""

from fastapi import APIRouter

from latency_tables.protocol import API_PREFIX
from service.api import agents, blobs, costs, datasets, health, models, runs, tables
from service.api.openapi import operation_id

api_router = APIRouter(prefix=API_PREFIX, generate_unique_id_function=operation_id)
api_router.include_router(health.router)
api_router.include_router(agents.router)
api_router.include_router(blobs.router)
api_router.include_router(tables.router)
api_router.include_router(costs.router)
api_router.include_router(runs.router)
api_router.include_router(models.router)
api_router.include_router(datasets.router)

__all__ = ["api_router"]
