"""The engine's checkpoint in the server's database (the run row's state_json)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from service.db.session import Database
from service.netadapt.state import EngineState
from service.runs import repository


class DatabaseCheckpointStore:
    """CheckpointStore on the runs table: each save is one committed UPDATE, so a crash
    leaves the previous or the new state, never a torn one."""

    def __init__(self, database: Database, run_id: str) -> None:
        self.database = database
        self.run_id = run_id

    def load(self) -> EngineState | None:
        with self.database.session() as session:
            run = repository.get_run(session, self.run_id)
            return None if run is None else run.state

    def save(self, state: Mapping[str, Any]) -> None:
        with self.database.session() as session:
            repository.save_state(session, self.run_id, state)
