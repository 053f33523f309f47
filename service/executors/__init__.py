"""Where proposals run: in-process, local worker processes, (later) a Ray cluster."""
