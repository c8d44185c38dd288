"""``python -m okrflow.cli``: the same as the ``okrflow`` command."""

from okrflow.cli import main

main()
