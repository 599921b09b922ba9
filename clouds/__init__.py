"""Cloud provider adapters behind one interface (:mod:`clouds.base`).

Nothing in this package imports Dagster or FastAPI: the same adapter serves an asset, an
endpoint and a test.
"""
