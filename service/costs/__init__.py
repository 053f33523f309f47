"""Cost estimators the engine can use: measured lookup tables (latency, instructions)."""
