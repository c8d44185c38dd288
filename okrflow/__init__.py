"""okrflow: OKRs as code for MLOps teams. The application shell: CLI, history store, alerts, reports."""

__version__ = "0.1.0"
