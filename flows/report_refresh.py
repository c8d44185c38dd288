"""After a served run is stored, rewrite the HTML report at ``report: {path: ...}`` so it is always current.

The run is already written when this runs: a report that cannot be written (a full disk, a missing
permission, a broken template) is logged with the reason and never fails or undoes the run. ``okrflow run``
calls it too after a stored run on its direct path (with a Prefect API, the flow does).
"""

from __future__ import annotations

import logging
from pathlib import Path

from okrflow.okr_model.config import Config

from okrflow.report.html import write_report
from okrflow.store import Store

__all__ = ["refresh_report"]

log = logging.getLogger("okrflow.report")


def refresh_report(
    config: Config, store: Store, logger: logging.Logger | logging.LoggerAdapter | None = log
) -> str | None:
    """Rewrite the configured report from ``store``; None when written or not configured, else why it was not.

    ``logger=None``: nothing is logged, the caller says the reason (``okrflow run`` prints it as a warning)."""
    target = config.report.path
    if target is None:
        return None
    try:
        write_report(config, store, Path(target))
    except Exception as exc:  # any failure of this optional output leaves the run standing
        reason = f"report not written to {target}: {type(exc).__name__}: {exc}"
        if logger is not None:
            logger.warning("%s (the run is stored)", reason)
        return reason
    if logger is not None:
        logger.info("report written to %s", target)
    return None
