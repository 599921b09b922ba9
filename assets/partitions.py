"""Billing partitions: one per billing source (a registered provider) and month.

``source`` is dynamic: a partition exists for every provider whose bills WedCloud reads
(the ``billing_exports`` sensor and the demo add them), keyed by the provider's id
(``control_plane.services.provider_keys``), never its name, which can change. ``month`` runs
from the history start to the current, still open, month. Keys read
``2026-11|0b5e4c1e-...``; runs carry the provider's name as a tag.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import dagster as dg

SOURCE = "source"
MONTH = "month"
MONTH_FORMAT = "%Y-%m"
billing_source_partitions = dg.DynamicPartitionsDefinition(name="billing_source")


def billing_partitions(start: date) -> dg.MultiPartitionsDefinition:
    return dg.MultiPartitionsDefinition(
        {
            MONTH: dg.MonthlyPartitionsDefinition(
                start_date=start.strftime(MONTH_FORMAT), fmt=MONTH_FORMAT, timezone="UTC", end_offset=1
            ),
            SOURCE: billing_source_partitions,
        }
    )


@dataclass(frozen=True)
class BillingPartition:
    source: str
    month: date

    @property
    def key(self) -> dg.MultiPartitionKey:
        return dg.MultiPartitionKey({SOURCE: self.source, MONTH: self.month.strftime(MONTH_FORMAT)})

    @classmethod
    def parse(cls, key: str) -> BillingPartition:
        month, _, source = key.partition("|")
        return cls(source=source, month=date.fromisoformat(month + "-01"))
