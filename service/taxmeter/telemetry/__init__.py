"""Prometheus metrics, tracing and logging setup."""
