"""How runs and history look to people and scripts.

- ``status``: the latest run as a table or the ``okrflow status --format json`` contract.
- ``history``: one key result over time as a table, JSON or CSV.
- ``tables``: rich's table for a screenful, plain columns above ``PLAIN_ABOVE`` rows.

Values, targets and scores are written by ``okrflow.okr_model.formatting``, as everywhere else. Members are
imported on first use (``okrflow.okr_model.lazy_exports``): the CLI's console does not import every view.
"""

from typing import TYPE_CHECKING

from okrflow.okr_model.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from okrflow.views.history import history_csv, history_json, history_table
    from okrflow.views.status import record_summary, status_json, status_table
    from okrflow.views.tables import PLAIN_ABOVE, print_table

__all__ = [
    "PLAIN_ABOVE",
    "history_csv",
    "history_json",
    "history_table",
    "print_table",
    "record_summary",
    "status_json",
    "status_table",
]

__getattr__ = lazy_exports(
    globals(),
    {
        **dict.fromkeys(("history_csv", "history_json", "history_table"), "okrflow.views.history"),
        **dict.fromkeys(("record_summary", "status_json", "status_table"), "okrflow.views.status"),
        **dict.fromkeys(("PLAIN_ABOVE", "print_table"), "okrflow.views.tables"),
    },
)
