"""Pruning runs, their event log and idempotency keys (filled in by the runs work)."""
