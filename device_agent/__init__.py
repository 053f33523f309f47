"""The NetAdapt device agent: measures layers and models on the device it runs on.

Runs on a board with only Python, numpy, LiteRT (ai_edge_litert), httpx and flatbuffers:
it imports `latency_tables` (the vocabulary shared with the server), never `service`,
TensorFlow, FastAPI or SQLAlchemy. tests/device_agent/test_import_isolation.py keeps it so.

Layout (nn-Meter-like): `backends/` holds one profiler per way of measuring (each with
a self-test), `backends/callgrind_output.py` parses what valgrind writes, `runner.py`
is the lease/measure/report loop against the server, `cli.py` the `netadapt-agent`
command.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
