"""Runnable benchmarks: `.venv/bin/python -m benchmarks.<name>` prints a table."""
