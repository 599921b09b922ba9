"""Dagster definitions: resources, partitions, jobs and the ``Definitions`` object."""
