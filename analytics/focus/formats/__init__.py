"""One module per billing format; ``FORMATS`` is the detection order (most specific first)."""

from __future__ import annotations

from analytics.focus.formats.aws_cost_explorer import AwsCostExplorer
from analytics.focus.formats.aws_cur import AwsCur2, AwsCurLegacy
from analytics.focus.formats.azure import AzureCostDetails, AzureCostDetailsAmortized
from analytics.focus.formats.azure_cost_query import AzureCostQuery
from analytics.focus.formats.base import Format
from analytics.focus.formats.focus_files import FocusFile
from analytics.focus.formats.gcp import GcpBillingExport
from analytics.focus.formats.oci import OciCostReport

FORMATS: tuple[Format, ...] = (
    FocusFile(),
    AwsCur2(),
    AwsCurLegacy(),
    AzureCostDetails(),
    AzureCostDetailsAmortized(),
    GcpBillingExport(),
    OciCostReport(),
    AwsCostExplorer(),
    AzureCostQuery(),
)


def by_name(name: str) -> Format:
    for candidate in FORMATS:
        if candidate.name == name:
            return candidate
    raise KeyError(name)
