"""Outputs of the history store: the HTML report and the Prometheus exporter."""
