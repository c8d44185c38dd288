"""Orchestration: ``pipeline`` holds the plain steps of a run; ``evaluate`` wraps them in Prefect."""
