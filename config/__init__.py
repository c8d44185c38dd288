"""The example configs, shipped inside the package as ``okrflow.examples`` (see pyproject.toml)."""
