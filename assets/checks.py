"""Per-partition asset check results, the one way all partitioned checks report."""

from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg


def per_partition(
    asset: str,
    check_name: str,
    results: Mapping[str, tuple[bool, Mapping[str, Any]]],
    *,
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR,
) -> Iterator[dg.AssetCheckEvaluation | dg.Output[None]]:
    """One evaluation per partition key, then the check op's own (empty) output.

    Dagster 1.13 stores a plain ``AssetCheckResult`` from a range run without a partition, so
    the UI would show every day as skipped. Yielding ``AssetCheckEvaluation(partition=...)``
    per key records each day; the final ``Output(None)`` satisfies the op's required output
    (named ``result``). See DEVELOPERS.md: partitioned checks are a preview feature.
    """
    for key, (passed, metadata) in results.items():
        yield dg.AssetCheckEvaluation(
            asset_key=dg.AssetKey(asset),
            check_name=check_name,
            passed=passed,
            partition=key,
            metadata=dict(metadata),
            severity=severity,
            blocking=severity == dg.AssetCheckSeverity.ERROR,
        )
    yield dg.Output(None)
