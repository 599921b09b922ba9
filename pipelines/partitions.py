"""Partitions of the billing data: one per UTC day, up to yesterday (the last whole day)."""

from __future__ import annotations

from datetime import date

import dagster as dg


def daily_partitions(start: date) -> dg.DailyPartitionsDefinition:
    return dg.DailyPartitionsDefinition(start_date=start.isoformat(), timezone="UTC")
