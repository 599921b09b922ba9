"""Dagster assets, one module per domain, each with its asset checks."""
