"""The ``wedcloud`` command line: the top of the import graph (it drives control_api and
pipelines; nothing imports it)."""
