"""Uploaded models and datasets (filled in by the uploads work)."""
