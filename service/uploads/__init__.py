"""Uploaded models (.keras) and datasets (.npz): validation, inspection and the catalog.

Nothing here imports TensorFlow in the server process: archives and model configs are
checked as plain zip and JSON (archives.py, keras_config.py), and whatever must load the
file runs in a memory-limited child process (inspection.py runs inspect_worker.py).
"""
