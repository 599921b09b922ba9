"""The domain core: the state store, the services the API, the CLI and Dagster all call,
credentials and secrets, keys and roles, the audit trail and the serving-snapshot reader.

Neither FastAPI nor Dagster is imported here (``tests/test_layers.py`` holds the rule).
"""
