"""How runs and history look to people and scripts.

- ``status``: the latest run as a table or the ``okrflow status --format json`` contract.
- ``history``: one key result over time as a table, JSON or CSV.
- ``tables``: rich's table for a screenful, plain columns above ``PLAIN_ABOVE`` rows.

Values, targets and scores are written by ``okrflow.okr_model.formatting``, as everywhere else.
"""

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
