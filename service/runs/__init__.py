"""Pruning runs in the server: what a run asks for (spec), its records and events
(repository), where it executes (worker processes started by the supervisor), and its
files (artifacts). Nothing here imports TensorFlow except the worker's execution module."""
