"""Metrics and logging of running streams."""
