"""The server's database: its own tables (agents, jobs) on the store's Base, and sessions."""

from service.db.tables import DONE, FAILED, JOB_STATUSES, LEASED, OPEN_STATUSES, PENDING, Agent, Job
from service.db.session import Database, get_session

__all__ = [
    "DONE",
    "FAILED",
    "JOB_STATUSES",
    "LEASED",
    "OPEN_STATUSES",
    "PENDING",
    "Agent",
    "Database",
    "Job",
    "get_session",
]
