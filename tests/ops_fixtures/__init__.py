"""Helpers for the operations tests: real Prometheus, Alertmanager, a webhook receiver, the
test copy of the alert rules, and a stand-in exporter serving taxmeter's metric names."""
